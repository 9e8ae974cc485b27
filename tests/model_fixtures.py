"""Small models with dlpipe's serving contract, for the serving tests and benchmark.

``export_digits_model`` writes a SavedModel with an 8x8 digits classifier's three signatures
(``serving_default``, ``classify`` with method_name ``tensorflow/serving/classify``,
``edge``), built by ``models.edge.export_with_edge_signatures``. The other builders make a
regression model and a multi-input / multi-output model for the JSON row/columnar rules.
They are untrained: the serving tests check the server against the SavedModel itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

IMAGE_SHAPE = (8, 8)
"""Raw image shape of the test model: 8 rows of 8 grey levels 0..16."""
PIXEL_MAX = 16.0
NUM_CLASSES = 10


def edge_spec() -> Any:
    """The test model's edge spec: raw grey levels in, class probabilities out."""
    from models import edge

    return edge.EdgeSpec(input_name="image", input_shape=IMAGE_SHAPE,
                         labels=tuple(str(i) for i in range(NUM_CLASSES)),
                         input_range=(0.0, PIXEL_MAX))


def build_digits_keras_model(seed: int = 0) -> Any:
    """A tiny untrained digits CNN (deterministic weights for a given seed)."""
    import keras

    from models.cnn import build_cnn

    keras.utils.set_random_seed(seed)
    return build_cnn(IMAGE_SHAPE, NUM_CLASSES, conv_filters=(8,),
                     dense_units=16, dropout=0.0)


def export_digits_model(export_dir: Path, model: Any | None = None, seed: int = 0) -> Path:
    """Writes the digits SavedModel (three signatures) to ``export_dir``, with the exporter
    the pipeline's trainer uses; pixels are scaled by 1/16 inside the graph."""
    from models import edge

    model = model if model is not None else build_digits_keras_model(seed)
    return edge.export_with_edge_signatures(
        export_dir, model, edge_spec(), preprocess=lambda x: x / PIXEL_MAX
    )


def export_regress_model(export_dir: Path) -> Path:
    """y = 0.5 * x + 2 on feature ``x``: ``regress`` (regress method) and ``serving_default``."""
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs: Any) -> dict[str, Any]:
            x = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
            return {"outputs": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x: Any) -> dict[str, Any]:
            return {"y": self.a * x + self.b}

    from models import export

    module = HalfPlusTwo()
    export.save_with_signatures(
        module, export_dir,
        signatures={"serving_default": module.predict, "regress": module.regress},
        method_names={"regress": export.REGRESS_METHOD},
    )
    return Path(export_dir)


def export_multi_io_model(export_dir: Path) -> Path:
    """Inputs ``x`` float [None, 3], ``n`` int64 [None], ``s`` string [None]; outputs
    ``sum`` float [None] (sum(x) + n), ``echo_bytes`` string [None] (s), ``length`` int32."""
    import tensorflow as tf

    class MultiIO(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="x"),
            tf.TensorSpec([None], tf.int64, name="n"),
            tf.TensorSpec([None], tf.string, name="s"),
        ])
        def serve(self, x: Any, n: Any, s: Any) -> dict[str, Any]:
            return {
                "sum": tf.reduce_sum(x, axis=-1) + tf.cast(n, tf.float32),
                "echo_bytes": s,
                "length": tf.strings.length(s),
            }

    module = MultiIO()
    tf.saved_model.save(module, str(export_dir), signatures={"serving_default": module.serve})
    return Path(export_dir)


def publish_version(base_path: Path, version: int, source: Path) -> Path:
    """Copies ``source`` into ``base_path/.tmp-<version>`` and renames it to ``<version>``
    (the pusher's atomic publish)."""
    base_path = Path(base_path)
    base_path.mkdir(parents=True, exist_ok=True)
    tmp = base_path / f".tmp-{version}-{os.getpid()}"
    shutil.copytree(source, tmp)
    final = base_path / str(version)
    os.rename(tmp, final)
    return final
