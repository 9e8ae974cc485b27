"""AudioFolderExampleGen: a folder with one subfolder of WAV files per class.

``folder`` scans, checks and decodes the files and imports neither TFX nor Beam, so a
pre-run check can use it; ``component`` and ``executor`` wrap it as a TFX ExampleGen.
"""
