"""Facts about the text sentiment task (IMDB reviews): features, vocabulary, signatures.

Everything else imports these: the Transform (``preprocessing.py``), the trainer and its
export (``trainer.py``, ``export.py``), the ingest checks (``FEATURE_KEYS``, ``TEXT_KEY``),
TFMA (``LABEL_KEY``, ``EXAMPLES_SIGNATURE``) and the tests.
"""

from models import edge

TEXT_KEY = "text"
"""Raw review: one string per example (``imdb_sample`` / CSV column, TFDS ``text``)."""
LABEL_KEY = "label"
"""0 negative, 1 positive (int64)."""
FEATURE_KEYS = (TEXT_KEY,)
"""Raw columns the task reads besides the label (checked in the CSV header before a run)."""

CLASS_NAMES = ("negative", "positive")
NUM_CLASSES = len(CLASS_NAMES)

SEQUENCE_LENGTH = 128
"""Tokens per review the model reads: the last 128 (longer reviews are cut at the front,
shorter ones padded at the front, so a recurrent model ends on real words). The sample's
median review has ~170 words; the length is fixed so the edge formats get fixed shapes."""

PAD_TOKEN = "[PAD]"
OOV_TOKEN = "[UNK]"
RESERVED_TOKENS = (PAD_TOKEN, OOV_TOKEN)
"""First lines of the vocabulary: id 0 pads, id 1 is any word not in the vocabulary.
Brackets cannot occur in a token (punctuation is stripped), so these never clash."""
PAD_ID = 0
OOV_ID = 1
VOCAB_SIZE = 10000
"""Most token ids there can be: the reserved tokens plus the most frequent words of the
train split (Transform's ``top_k``). A small corpus yields fewer: the model's embedding is
sized from the vocabulary Transform actually wrote (``vocab_size`` hparam, one of
``DERIVED_HPARAMS``), never from this bound alone."""
VOCAB_NAME = "text_vocab"
"""tf.Transform vocabulary name (the asset file Transform writes)."""
DERIVED_HPARAMS = {"vocab_size": "models.text.export.vocab_size"}
"""Builder arguments read from the Transform output (``models.training.derived_hparams``);
a config may not set them."""
VOCAB_FILE = "vocab.txt"
"""The vocabulary shipped with the model: ``assets.extra/vocab.txt`` in the SavedModel and
beside the edge files. Line n (from 0) is the token of id n, reserved tokens first."""


def transformed_name(key: str) -> str:
    """Name of a feature after Transform."""
    return f"{key}_xf"


MODEL_INPUT_KEY = transformed_name(TEXT_KEY)
"""The transformed feature the model reads: int64 token ids ``[batch, SEQUENCE_LENGTH]``."""
MODEL_INPUT_SHAPE = (SEQUENCE_LENGTH,)

# The serving contract (documented in README.md, "Serving contract"). Signature names shared
# by every model are owned by models/edge.py; this task adds `tokenize`.
#   serving_default: text string [batch] raw reviews -> probabilities float32 [batch, 2],
#     class_id int64 [batch]. What REST/gRPC Predict clients call:
#     {"instances": ["great movie"]}.
#   classify (method tensorflow/serving/classify): inputs string [batch] of serialized
#     tf.Example (text: one bytes value) -> classes string [batch, 2], scores float32
#     [batch, 2]. Used by TFMA (label_key LABEL_KEY, prediction key `scores`) and TF
#     Serving's Classify API.
#   tokenize: text string [batch] -> token_ids int32 [batch, SEQUENCE_LENGTH]: the Transform
#     graph's tokenization, for apps that run the edge model and for the edge exporter.
#   edge: token_ids int32 [batch, SEQUENCE_LENGTH] -> probabilities; what the TFLite and ONNX
#     exports convert (raw strings cannot enter TFLite builtins; recurrent layers unrolled).
SERVING_SIGNATURE = edge.SERVING_SIGNATURE
EXAMPLES_SIGNATURE = edge.CLASSIFY_SIGNATURE
EDGE_SIGNATURE = edge.EDGE_SIGNATURE
TOKENIZE_SIGNATURE = "tokenize"
PROBABILITIES = "probabilities"
CLASS_ID = edge.CLASS_ID_OUTPUT
TOKEN_IDS = "token_ids"
"""Input of ``edge`` and output of ``tokenize``."""

EDGE_SPEC = edge.EdgeSpec(
    input_name=TOKEN_IDS,
    input_shape=MODEL_INPUT_SHAPE,
    input_dtype="int32",
    output_name=PROBABILITIES,
    labels=CLASS_NAMES,
    input_range=(0, VOCAB_SIZE - 1),
    normalization=(
        f"token ids from {VOCAB_FILE} (line n = id n): lowercase, <br /> tags and "
        f"punctuation removed, split on whitespace, the last {SEQUENCE_LENGTH} tokens kept, "
        f"padded at the front with {PAD_ID} ({PAD_TOKEN}); unknown words are {OOV_ID} "
        f"({OOV_TOKEN}). The SavedModel's `{TOKENIZE_SIGNATURE}` signature does exactly this."
    ),
    output_meaning="probability of negative and positive sentiment (softmax), labels.txt order",
    example_feature=TEXT_KEY,
    example_signature=TOKENIZE_SIGNATURE,
)
"""The edge contract; the export narrows ``input_range`` to the written vocabulary and sets
``recurrent`` for LSTM/GRU models."""
