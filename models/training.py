"""Training helpers shared by every task's ``run_fn``: datasets, compile/fit, logs."""

from __future__ import annotations

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
