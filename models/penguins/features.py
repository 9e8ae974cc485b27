"""Facts about the penguins task: CSV columns, feature kinds, classes, the serving contract.

Everything else (preprocessing, trainer, export, the pipeline's Evaluator config, tests)
imports these.
"""

from models import edge
from models.edge import SERIALIZED_EXAMPLE

LABEL_KEY = "species"
CLASS_NAMES = ("Adelie", "Chinstrap", "Gentoo")
"""Species in class-index order (the CSV's ``species`` column holds the index)."""
NUM_CLASSES = len(CLASS_NAMES)

NUMERIC_KEYS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
"""Measurements; missing values are imputed with the train mean, then z-scored."""
CATEGORICAL_KEYS = ("island", "sex")
"""Strings; one-hot over the train vocabulary (missing and unseen: an out-of-vocabulary slot)."""
FEATURE_KEYS = NUMERIC_KEYS + CATEGORICAL_KEYS
"""Raw columns the task reads besides the label (checked in the CSV header before a run)."""
CSV_COLUMNS = (LABEL_KEY, "island", *NUMERIC_KEYS, "sex", "year")
"""Columns of the bundled CSV, in the package's order (``year`` is kept but not read)."""

VOCAB_SIZES = {"island": 3, "sex": 2}
"""Values kept per categorical feature: the most frequent in the train split (Biscoe, Dream,
Torgersen; female, male). Rarer values, unseen ones and missing ones share one extra slot."""
OOV_SLOTS = 1

MISSING_STRING = ""
"""A missing island or sex, in every signature (the CSV's empty field, NA in the package)."""
MISSING_NUMBER = float("nan")
"""A missing measurement in ``serving_default`` (in a tf.Example: the feature has no value)."""


def transformed_name(key: str) -> str:
    """Name of a feature after Transform."""
    return f"{key}_xf"


def vocab_filename(key: str) -> str:
    """Name of the Transform vocabulary of a categorical feature (in the transform graph)."""
    return f"{key}_vocab"


MODEL_INPUT_KEY = transformed_name("features")
"""The transformed feature the model reads: one float32 vector per example, laid out as
``MODEL_INPUT_LAYOUT``."""
MODEL_INPUT_LAYOUT = (
    *NUMERIC_KEYS,
    *(f"{key}[{i}]" for key in CATEGORICAL_KEYS for i in range(VOCAB_SIZES[key] + OOV_SLOTS)),
)
"""What each position of the model input holds: the z-scored measurements (0 = the train
mean, also for a missing value), then one one-hot block per categorical feature (positions
``0..n-1``: the train vocabulary, most frequent first; position ``n``: missing or unseen)."""
MODEL_INPUT_SIZE = len(MODEL_INPUT_LAYOUT)
MODEL_INPUT_SHAPE = (MODEL_INPUT_SIZE,)
"""Shape of one model input (the builder's first argument in ``run_classifier``)."""

# The serving contract (documented in README.md, "Serving contract"). Signature names are
# shared with every model (models/edge.py owns them) except TRANSFORM_SIGNATURE.
#   serving_default: the raw features, one value per example: island, sex string [batch]
#     (MISSING_STRING when missing), bill_length_mm, bill_depth_mm, flipper_length_mm,
#     body_mass_g float32 [batch] (NaN when missing) -> probabilities float32 [batch, 3],
#     class_id int64 [batch]. What REST/gRPC Predict clients call.
#   classify (method tensorflow/serving/classify): inputs string [batch] of serialized
#     tf.Example with the raw features as the CSV gives them (a missing value: no value;
#     flipper_length_mm and body_mass_g are int64, the others float) -> classes string
#     [batch, 3] (CLASS_NAMES), scores float32 [batch, 3]. Used by TFMA and TF Serving's
#     Classify API.
#   transform_features: examples string [batch] of serialized tf.Example, as for classify
#     -> MODEL_INPUT_KEY float32 [batch, MODEL_INPUT_SIZE]: the Transform graph alone, for
#     the edge exporter and for apps that prepare the edge input on a server.
#   edge: MODEL_INPUT_KEY float32 [batch, MODEL_INPUT_SIZE] -> probabilities: the model
#     without its preprocessing (strings and missing values cannot enter TFLite builtins);
#     what the TFLite and ONNX exports convert. The app does the preprocessing with the
#     statistics the export writes into the edge spec's normalization text.
# Every signature but edge runs the Transform graph first: no training/serving skew.
SERVING_SIGNATURE = edge.SERVING_SIGNATURE
EXAMPLES_SIGNATURE = edge.CLASSIFY_SIGNATURE
EDGE_SIGNATURE = edge.EDGE_SIGNATURE
TRANSFORM_SIGNATURE = "transform_features"
TRANSFORM_INPUT = "examples"
"""Input of ``transform_features``: serialized tf.Example strings."""
PROBABILITIES = "probabilities"
CLASS_ID = edge.CLASS_ID_OUTPUT

EDGE_SPEC = edge.EdgeSpec(
    input_name=MODEL_INPUT_KEY,
    input_shape=(MODEL_INPUT_SIZE,),
    output_name=PROBABILITIES,
    labels=CLASS_NAMES,
    normalization=(
        f"{MODEL_INPUT_SIZE} float32 values: {', '.join(MODEL_INPUT_LAYOUT)}. Measurements "
        f"z-scored with the train mean and standard deviation (missing: 0); island and sex "
        f"one-hot over the train vocabulary, last slot for missing or unseen. The SavedModel's "
        f"`{TRANSFORM_SIGNATURE}` signature does exactly this."
    ),
    output_meaning="probability of each species (softmax), in labels.txt order",
    example_feature=SERIALIZED_EXAMPLE,
    example_signature=TRANSFORM_SIGNATURE,
)
"""The edge contract; the export replaces ``normalization`` with the learned statistics and
vocabularies (``models.penguins.export.normalization_text``)."""
