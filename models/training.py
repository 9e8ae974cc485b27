"""Training shared by every task's ``run_fn``: datasets, build, compile/fit, logs.

A classifier task's ``run_fn`` is one line: ``run_classifier(fn_args, features, export)``
with its facts module (``LABEL_KEY``, ``MODEL_INPUT_KEY``, ``MODEL_INPUT_SHAPE``,
``NUM_CLASSES``) and its export function (the task's serving contract).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import keras
import tensorflow as tf

from pipeline.errors import DlpipeError


def transformed_dataset(
    fn_args: Any,
    file_pattern: list[str],
    tft_output: Any,
    feature_key: str,
    label_key: str,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
) -> tf.data.Dataset:
    """A repeated dataset of ``(feature, label)`` pairs read from transformed examples."""
    from tfx_bsl.public import tfxio

    dataset = fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=label_key, shuffle=shuffle, shuffle_seed=seed
        ),
        tft_output.transformed_metadata.schema,
    )
    return dataset.map(lambda features, label: (features[feature_key], label))


def import_builder(path: str):
    """Imports the model builder named by a dotted path."""
    import importlib

    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise DlpipeError(f"Cannot import model builder {path!r}: {e}") from None


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset,
    *,
    train_steps: int,
    eval_steps: int,
    epochs: int,
    learning_rate: float,
    log_dir: str,
    loss: str = "sparse_categorical_crossentropy",
    metrics: tuple[str, ...] = ("sparse_categorical_accuracy",),
) -> keras.callbacks.History:
    """Compiles and fits ``model`` for ``train_steps`` steps spread over ``epochs``.

    TensorBoard logs go to ``log_dir``; one progress line is printed per epoch.
    """
    epochs = min(epochs, train_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        metrics=list(metrics),
    )
    return model.fit(
        train,
        steps_per_epoch=max(1, train_steps // epochs),
        epochs=epochs,
        validation_data=validation,
        validation_steps=eval_steps,
        callbacks=[keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch")],
        verbose=2,
    )


def run_classifier(
    fn_args: Any,
    task: ModuleType,
    export: Callable[[keras.Model, Any, str], None],
) -> None:
    """Builds the configured classifier, fits it on transformed examples and exports it.

    Args:
      fn_args: TFX Trainer's FnArgs; ``custom_config`` carries builder, hparams, batch
        size, learning rate, epochs and seed from the pipeline config.
      task: The task's facts module.
      export: ``export(model, tft_output, export_dir)``, writing the serving contract.
    """
    import tensorflow_transform as tft

    cfg = fn_args.custom_config
    keras.utils.set_random_seed(cfg["seed"])
    tft_output = tft.TFTransformOutput(fn_args.transform_output)

    def dataset(files: list[str], shuffle: bool) -> tf.data.Dataset:
        return transformed_dataset(
            fn_args, files, tft_output, task.MODEL_INPUT_KEY, task.LABEL_KEY,
            batch_size=cfg["batch_size"], seed=cfg["seed"], shuffle=shuffle,
        )

    builder = import_builder(cfg["builder"])
    model = builder(task.MODEL_INPUT_SHAPE, task.NUM_CLASSES, **cfg["hparams"])
    model.summary(print_fn=lambda line, *_: logging.info(line))
    fit(
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
