"""TFX Trainer ``run_fn``s of the generative tasks: one shared training loop, two models.

``vae_run_fn`` and ``gan_run_fn`` read the Transform output (pixels in [0, 1]), build the
configured pure builder (``models.vae.build_vae``, ``models.gan.build_gan``) with the
task's image shape and ``train.hparams``, fit it with its own training step (the VAE's
negative ELBO, the GAN's adversarial step) and export the serving contract of
``models.generative.contract``. ``custom_config`` comes from the pipeline as for the
classifiers: builder, hparams, batch_size, learning_rate, epochs, seed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import keras
import tensorflow as tf

from models import training
from models.generative import export, gan_features, vae_features

GAN_ADAM_BETA_1 = 0.5
"""Adam's first-moment decay for both GAN optimizers (DCGAN's setting: 0.9 oscillates)."""


def image_dataset(fn_args: Any, files: list[str], tft_output: Any, task: ModuleType,
                  image_shape: tuple[int, ...], batch_size: int, seed: int,
                  shuffle: bool) -> tf.data.Dataset:
    """A repeated dataset of transformed images shaped ``[batch, *image_shape]``; the
    labels are dropped (the generative models never see them)."""
    dataset = training.transformed_dataset(
        fn_args, files, tft_output, task.MODEL_INPUT_KEY, task.LABEL_KEY,
        batch_size=batch_size, seed=seed, shuffle=shuffle)
    return dataset.map(lambda image, _: tf.reshape(image, [-1, *image_shape]))


def train_generative(
    fn_args: Any,
    task: ModuleType,
    image_shape: tuple[int, ...],
    compile_model: Callable[[keras.Model, float], None],
    export_model: Callable[[keras.Model, Any, str], Any],
    validate: bool,
) -> keras.Model:
    """Builds, compiles, fits and exports the configured generative model.

    TensorBoard logs and the training throughput (``models.training.ThroughputLog``) go to
    the Trainer's ``model_run`` directory, as for the classifiers.

    Args:
      fn_args: TFX Trainer's FnArgs (``custom_config`` from the pipeline config).
      task: The task's facts module.
      image_shape: The image shape the builder is given and the data is reshaped to.
      compile_model: ``compile_model(model, learning_rate)``: optimizers of the model.
      export_model: ``export_model(model, tft_output, export_dir)``.
      validate: Evaluate on the eval split after each epoch (the model has a test step).

    Returns:
      The trained model.
    """
    import tensorflow_transform as tft

    cfg = fn_args.custom_config
    keras.utils.set_random_seed(cfg["seed"])
    tft_output = tft.TFTransformOutput(fn_args.transform_output)

    def dataset(files: list[str], shuffle: bool) -> tf.data.Dataset:
        return image_dataset(fn_args, files, tft_output, task, image_shape,
                             cfg["batch_size"], cfg["seed"], shuffle)

    builder = training.import_builder(cfg["builder"])
    model = builder(image_shape, **{"seed": cfg["seed"], **cfg["hparams"]})
    model.summary(print_fn=lambda line, *_: logging.info(line))
    compile_model(model, cfg["learning_rate"])
    epochs = min(cfg["epochs"], fn_args.train_steps)
    model.fit(
        dataset(fn_args.train_files, shuffle=True),
        steps_per_epoch=max(1, fn_args.train_steps // epochs),
        epochs=epochs,
        validation_data=dataset(fn_args.eval_files, shuffle=False) if validate else None,
        validation_steps=fn_args.eval_steps if validate else None,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
            training.ThroughputLog(cfg["batch_size"], os.path.join(
                fn_args.model_run_dir, training.TRAINING_STATS_FILE)),
        ],
        verbose=2,
    )
    export_model(model, tft_output, fn_args.serving_model_dir)
    return model


def vae_run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point of the VAE task: fit on the negative ELBO, export."""
    seed = fn_args.custom_config["seed"]
    train_generative(
        fn_args, vae_features, tuple(vae_features.MODEL_INPUT_SHAPE),
        compile_model=lambda model, lr: model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=lr)),
        export_model=lambda model, tft_output, export_dir: export.export_vae(
            model, tft_output, export_dir, vae_features, seed=seed),
        validate=True,
    )


def gan_run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point of the GAN task: adversarial training, export the generator."""
    train_generative(
        fn_args, gan_features, (*gan_features.MODEL_INPUT_SHAPE, 1),
        compile_model=lambda model, lr: model.compile(
            d_optimizer=keras.optimizers.Adam(learning_rate=lr, beta_1=GAN_ADAM_BETA_1),
            g_optimizer=keras.optimizers.Adam(learning_rate=lr, beta_1=GAN_ADAM_BETA_1)),
        export_model=lambda model, tft_output, export_dir: export.export_gan(
            model, tft_output, export_dir, gan_features),
        validate=False,  # a GAN's losses on held-out images say little; the evaluator scores
    )
