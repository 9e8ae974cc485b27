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
