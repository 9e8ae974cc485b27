"""TFX Trainer ``run_fn`` for the digits task: build, fit, export with the serving contract.

Any classifier builder with the zoo's contract ``builder(input_shape, num_classes, **hparams)``
works here: the CNN reads the 8x8 image, the LSTM/GRU/Transformer read it as 8 rows of 8.
"""

from __future__ import annotations

import dataclasses
import logging
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
    xf_key = features.transformed_name(features.IMAGE_KEY)

    def preprocess(image: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(tf.cast(image, tf.float32), [-1, features.IMAGE_SIZE])
        return tft_layer({features.IMAGE_KEY: flat})[xf_key]

    # Recurrent models get the looser RNN parity tolerance and an unrolled edge graph.
    spec = dataclasses.replace(features.EDGE_SPEC, recurrent=edge.has_recurrent_layers(model))
    edge.export_with_edge_signatures(
        export_dir, model, spec, preprocess=preprocess, trackables={"tft_layer": tft_layer}
    )


def run_fn(fn_args: Any) -> None:
    """Trains the configured image classifier on transformed digits and exports it.

    ``fn_args.custom_config`` carries the training config (builder, hparams, batch size,
    learning rate, epochs, seed) from the pipeline.
    """
    cfg = fn_args.custom_config
    keras.utils.set_random_seed(cfg["seed"])
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    xf_key = features.transformed_name(features.IMAGE_KEY)

    def dataset(files: list[str], shuffle: bool) -> tf.data.Dataset:
        return training.transformed_dataset(
            fn_args, files, tft_output, xf_key, features.LABEL_KEY,
            batch_size=cfg["batch_size"], seed=cfg["seed"], shuffle=shuffle,
        )

    builder = training.import_builder(cfg["builder"])
    model = builder(features.IMAGE_SHAPE, features.NUM_CLASSES, **cfg["hparams"])
    model.summary(print_fn=lambda line, *_: logging.info(line))
    training.fit(
        model,
        dataset(fn_args.train_files, shuffle=True),
        dataset(fn_args.eval_files, shuffle=False),
        train_steps=fn_args.train_steps,
        eval_steps=fn_args.eval_steps,
        epochs=cfg["epochs"],
        learning_rate=cfg["learning_rate"],
        log_dir=fn_args.model_run_dir,
    )
    export(model, tft_output, fn_args.serving_model_dir)
