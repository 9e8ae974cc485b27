"""TFX Trainer ``run_fn`` for the digits task: build, fit, export with the serving contract.

Any classifier builder with the zoo's contract ``builder(input_shape, num_classes, **hparams)``
works here: the CNN reads the 8x8 image, the LSTM/GRU/Transformer read it as 8 rows of 8.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft

from models import edge, training
from models.digits import features


def export(model: keras.Model, tft_output: tft.TFTransformOutput, export_dir: str) -> None:
    """Exports ``model`` with the Transform graph in front of it (see features.py for the
    signatures), so every client sends raw pixels and serving runs the training-time
    preprocessing: no training/serving skew."""
    tft_layer = tft_output.transform_features_layer()

    def preprocess(image: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(tf.cast(image, tf.float32), [-1, features.IMAGE_SIZE])
        return tft_layer({features.IMAGE_KEY: flat})[features.MODEL_INPUT_KEY]

    # Recurrent models get the looser RNN parity tolerance and an unrolled edge graph. The
    # raw range is the data's (0..16 for the bundled digits, 0..255 from image files).
    low, high = raw_range(tft_layer)
    spec = dataclasses.replace(
        features.EDGE_SPEC, recurrent=edge.has_recurrent_layers(model), input_range=(low, high),
        normalization=f"none needed: send raw grey levels {low:g}..{high:g}; the graph "
                      f"scales them to [0, 1]",
    )
    edge.export_with_edge_signatures(
        export_dir, model, spec, preprocess=preprocess, trackables={"tft_layer": tft_layer}
    )


def raw_range(tft_layer: Any) -> tuple[float, float]:
    """The raw pixel range the Transform graph maps onto [0, 1] (train min and max).

    ``tft.scale_to_0_1`` is ``(x - min) / (max - min)``: two probes (x = 0 and x = 1)
    give both constants back without reading the analyzer's internals.
    """
    probes = tf.constant([[0.0] * features.IMAGE_SIZE, [1.0] * features.IMAGE_SIZE])
    scaled = tft_layer({features.IMAGE_KEY: probes})[features.MODEL_INPUT_KEY].numpy()
    at0, at1 = float(scaled[0].flat[0]), float(scaled[1].flat[0])
    width = 1.0 / (at1 - at0)
    low = -at0 * width
    return round(low, 4), round(low + width, 4)


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point: the shared classifier training with the digits contract."""
    training.run_classifier(fn_args, features, export)
