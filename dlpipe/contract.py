"""The serving contract: names every dlpipe SavedModel, server, client and test agrees on.

TF Serving's own facts (method names, model version states, the version-directory rule) and
dlpipe's (signature and output names). Everything imports these; nothing here imports the
project. What each signature takes and returns per task kind is documented in README.md
("Serving contract") and built by ``models.tasks``.
"""

from __future__ import annotations

import os
from pathlib import Path

# Signatures -------------------------------------------------------------------------------
SERVING_SIGNATURE = "serving_default"
"""Raw input tensors -> outputs; what REST/gRPC Predict clients call."""
CLASSIFY_SIGNATURE = "classify"
"""Serialized tf.Example -> ``classes``, ``scores`` (method CLASSIFY_METHOD); TFMA scores it."""
REGRESS_SIGNATURE = "regress"
"""Serialized tf.Example -> ``outputs`` (method REGRESS_METHOD); TFMA scores regressors."""
TRANSFORM_SIGNATURE = "transform_features"
"""Serialized tf.Example -> the Transform graph's outputs (the model inputs and the
transformed label): what TFMA reads transformed labels from, and what builds edge inputs."""
EDGE_SIGNATURE = "edge"
"""One fixed-shape numeric input -> one output: what the TFLite and ONNX files convert."""
IMAGE_BYTES_SIGNATURE = "predict_image"
"""Image classifiers: encoded image files (PNG, JPEG, GIF, BMP) -> ``serving_default``'s
outputs. The graph decodes, resizes to the model's height x width and maps the file's 0..255
onto the pixel range Transform learned, so a client needs no knowledge of the data's units."""
IMAGE_BYTES_INPUT = "image_bytes"
"""The input of IMAGE_BYTES_SIGNATURE: string [batch] (REST: ``{"b64": ...}``)."""
AUDIO_BYTES_SIGNATURE = "predict_audio"
"""Audio classifiers: WAV files (16-bit PCM at the model's sample rate) -> ``serving_default``'s
outputs; the graph decodes, pads or cuts to the clip length and scales to the data's units."""
AUDIO_BYTES_INPUT = "audio_bytes"
"""The input of AUDIO_BYTES_SIGNATURE: string [batch] (REST: ``{"b64": ...}``)."""

# Methods (SignatureDef.method_name) ---------------------------------------------------------
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

# Inputs and outputs ------------------------------------------------------------------------
EXAMPLES_INPUT = "inputs"
"""Input of the Classify and Regress signatures: serialized tf.Example strings [batch]."""
TRANSFORM_INPUT = "examples"
"""Input of ``transform_features``: serialized tf.Example strings [batch]."""
CLASSES_OUTPUT = "classes"
"""Classify: class names, string [batch, num_classes]."""
SCORES_OUTPUT = "scores"
"""Classify: class probabilities, float32 [batch, num_classes]; TFMA's prediction key."""
REGRESS_OUTPUT = "outputs"
"""Regress: the predicted value, float32 [batch]."""
PROBABILITIES_OUTPUT = "probabilities"
"""Predict (classifiers): class probabilities, float32 [batch, num_classes]."""
CLASS_ID_OUTPUT = "class_id"
"""Predict (classifiers): the arg-max class index, int64 [batch]."""
CLASS_NAME_OUTPUT = "class_name"
"""Predict (classifiers): the arg-max class name, string [batch]."""
PREDICTION_OUTPUT = "prediction"
"""Predict (regressors): the predicted value in the label's units, float32 [batch]."""

# Model version states (tensorflow_serving ModelVersionStatus.State) --------------------------
START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
STATE_CODES = {START: 10, LOADING: 20, AVAILABLE: 30, UNLOADING: 40, END: 50}
"""State name -> the enum value TF Serving's GetModelStatus answers."""

# Version directories ----------------------------------------------------------------------
MAX_VERSION = 2**63 - 1
"""Versions are int64 in TF Serving's APIs."""


def version_of(name: str) -> int | None:
    """The version a directory name stands for, or None if it is not a version directory.

    A version is a name of ASCII digits only that fits int64, as TF Serving reads its base
    path. Anything else (``.tmp-*`` push directories, ``model_cards``, ``²``, which
    ``str.isdigit`` accepts but ``int`` does not) is ignored by servers and pushers alike.
    """
    if not name or not name.isascii() or not name.isdigit() or len(name.lstrip("0")) > 19:
        return None
    version = int(name)
    return version if version <= MAX_VERSION else None


def version_dirs(base: str | Path) -> dict[int, Path]:
    """Version -> directory under a model's base path (empty if it cannot be listed)."""
    base = Path(base)
    try:
        names = os.listdir(base)
    except OSError:
        return {}
    found = {}
    for name in names:
        version = version_of(name)
        if version is not None and (base / name).is_dir():
            found[version] = base / name
    return found


# Files inside a SavedModel (TF Serving ignores unknown files under assets.extra) -------------
USERS_FILE = "users.txt"
"""Retrieval: the user vocabulary (line n = the user of index n, the edge input), in the
SavedModel's assets.extra and beside the edge files."""
TASK_INFO_FILE = "assets.extra/dlpipe_task.json"
"""The model's task (``models.tasks.spec.Task``) and what its Transform learned (class
names, pixel range, statistics): read by the report, ``dlpipe predict`` and the edge export."""
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
"""TF Serving's warm-up requests (PredictionLog TFRecords), replayed before a version serves."""
