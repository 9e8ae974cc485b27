"""Fixtures of the edge tests: a digits CNN trained on scikit-learn's digits, saved with its
``edge``/``serving_default``/``classify`` signatures, and one export of it to every format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_TRAIN = 1400  # Of 1,797 digits; the rest is held out (eval split).
IMAGE_SHAPE = (8, 8, 1)
PIXEL_MAX = 16.0  # the digits' grey levels are 0..16
CLASS_NAMES = tuple(str(d) for d in range(10))
LATENCY_RUNS = 20  # Latency is reported, never asserted: keep the runs few.


@pytest.fixture(scope="session")
def digits() -> dict[str, np.ndarray]:
    """Raw 8x8x1 digits (pixels 0..16), split into train and held-out eval."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.images[..., None].astype(np.float32)
    y = data.target.astype(np.int64)
    return {
        "x_train": x[:NUM_TRAIN],
        "y_train": y[:NUM_TRAIN],
        "x_eval": x[NUM_TRAIN:],
        "y_eval": y[NUM_TRAIN:],
    }


def digits_spec():
    from models import edge

    return edge.EdgeSpec(
        input_name="image",
        input_shape=IMAGE_SHAPE,
        labels=CLASS_NAMES,
        input_range=(0.0, PIXEL_MAX),
        normalization="raw grey levels 0..16; the model divides by 16 inside the graph",
        output_meaning="probability of each digit 0..9 (softmax), in labels.txt order",
    )


@pytest.fixture(scope="session")
def cnn_saved_model(tmp_path_factory, digits) -> Path:
    """A small CNN trained a few epochs on the digits, saved with the edge signatures."""
    import keras

    from models import edge
    from models.cnn import build_cnn

    keras.utils.set_random_seed(7)
    model = build_cnn(IMAGE_SHAPE, len(CLASS_NAMES))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        digits["x_train"] / PIXEL_MAX,
        digits["y_train"],
        epochs=20,
        batch_size=32,
        verbose=0,
    )
    path = tmp_path_factory.mktemp("cnn") / "saved_model"
    edge.export_with_edge_signatures(
        path, model, digits_spec(), preprocess=lambda x: x / PIXEL_MAX
    )
    return path


@pytest.fixture(scope="session")
def cnn_export(tmp_path_factory, cnn_saved_model, digits):
    """Every format of the CNN, with the default gates: (report, output directory)."""
    from components.edge_export import formats
    from components.edge_export.data import Dataset
    from components.edge_export.export import export_edge

    out = tmp_path_factory.mktemp("cnn_edge")
    report = export_edge(
        cnn_saved_model,
        out,
        formats.ExportOptions(latency_runs=LATENCY_RUNS),
        representative=Dataset(digits["x_train"]),
        eval_data=Dataset(digits["x_eval"], digits["y_eval"]),
    )
    return report, out


def saved_model_outputs(path: Path, x: np.ndarray, signature: str = "edge") -> np.ndarray:
    """Output of the SavedModel's signature on ``x`` (its single input, its first output)."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures[signature]
    (name,) = fn.structured_input_signature[1]
    out = fn(**{name: tf.constant(x)})
    return out.get("probabilities", next(iter(out.values()))).numpy()
