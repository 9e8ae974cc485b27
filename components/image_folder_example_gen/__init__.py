"""ImageFolderExampleGen: a folder with one subfolder of PNG/JPEG images per class.

``folder`` scans, checks and decodes the images and imports neither TFX nor Beam, so a
pre-run check can use it; ``component`` and ``executor`` wrap it as a TFX ExampleGen.
"""
