"""Facts about the digits task: feature names, shapes, classes. Everything else imports these."""

from models import edge

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


MODEL_INPUT_KEY = transformed_name(IMAGE_KEY)
"""The transformed feature the model reads: pixels in [0, 1], shaped ``MODEL_INPUT_SHAPE``."""
MODEL_INPUT_SHAPE = IMAGE_SHAPE

# The serving contract (documented in README.md, "Serving contract"). Signature names are
# the same for every model (models/edge.py owns them); what this task's take and return:
#   serving_default: image float32 [batch, 8, 8] raw pixels 0..16 -> probabilities float32
#     [batch, 10], class_id int64 [batch]. What REST/gRPC Predict clients call.
#   classify (method tensorflow/serving/classify): inputs string [batch] of serialized
#     tf.Example (image: 64 floats) -> classes string [batch, 10], scores float32
#     [batch, 10]. Used by TFMA and TF Serving's Classify API.
#   edge: image -> probabilities only; what the TFLite and ONNX exports convert.
SERVING_SIGNATURE = edge.SERVING_SIGNATURE
EXAMPLES_SIGNATURE = edge.CLASSIFY_SIGNATURE
EDGE_SIGNATURE = edge.EDGE_SIGNATURE
PROBABILITIES = "probabilities"
CLASS_ID = edge.CLASS_ID_OUTPUT

EDGE_SPEC = edge.EdgeSpec(
    input_name=IMAGE_KEY,
    input_shape=IMAGE_SHAPE,
    output_name=PROBABILITIES,
    labels=CLASS_NAMES,
    input_range=(0.0, PIXEL_MAX),
    normalization="none needed: send raw grey levels 0..16; the graph scales them to [0, 1]",
    output_meaning="probability of each digit 0..9 (softmax), in labels.txt order",
)
