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

    # Recurrent models get the looser RNN parity tolerance and an unrolled edge graph.
    spec = dataclasses.replace(features.EDGE_SPEC, recurrent=edge.has_recurrent_layers(model))
    edge.export_with_edge_signatures(
        export_dir, model, spec, preprocess=preprocess, trackables={"tft_layer": tft_layer}
    )


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point: the shared classifier training with the digits contract."""
    training.run_classifier(fn_args, features, export)
