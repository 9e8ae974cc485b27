"""Facts about the digits task: feature names, shapes, classes. Everything else imports these."""

IMAGE_KEY = "image"
LABEL_KEY = "label"

IMAGE_SHAPE = (8, 8)
"""Raw image shape: 8 rows of 8 pixels."""

IMAGE_SIZE = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
"""Length of the flat ``image`` float feature in a tf.Example."""

PIXEL_MAX = 16.0
"""Raw pixels are grey levels 0..16 (scikit-learn's digits)."""

NUM_CLASSES = 10
CLASS_NAMES = tuple(str(i) for i in range(NUM_CLASSES))


def transformed_name(key: str) -> str:
    """Name of a feature after Transform."""
    return f"{key}_xf"

# Signatures of the exported SavedModel (the serving contract, documented in README.md).
SERVING_SIGNATURE = "serving_default"
"""Raw image in (``image``: float32 [batch, 8, 8], pixels 0..16) -> ``probabilities``
float32 [batch, 10] and ``class_id`` int64 [batch]. What REST/gRPC Predict clients call."""

EXAMPLES_SIGNATURE = "classify"
"""Serialized tf.Example in (``inputs``: string [batch]) -> ``classes`` string [batch, 10]
and ``scores`` float32 [batch, 10]; method ``tensorflow/serving/classify``. Used by TFMA
and by TF Serving's Classify API."""

EDGE_SIGNATURE = "edge"
"""Raw image in (``image``: float32 [batch, 8, 8]) -> ``probabilities`` only: the fixed-shape,
numeric-only signature the TFLite and ONNX exports convert."""

PROBABILITIES = "probabilities"
CLASS_ID = "class_id"
