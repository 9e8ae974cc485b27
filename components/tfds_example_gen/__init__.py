"""TfdsExampleGen: any TFDS dataset (name, version, splits, data_dir) as tf.Example splits.

``source`` finds, checks and converts the dataset and imports neither TFX nor Beam, so a
pre-run check can use it; ``component`` and ``executor`` wrap it as a TFX ExampleGen.
"""
