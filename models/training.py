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

from dlpipe.errors import DlpipeError


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
    """Imports the model builder (or any function) named by a dotted path."""
    import importlib

    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise DlpipeError(f"Cannot import {path!r}: {e}") from None


TRAINING_STATS_FILE = "training_stats.json"
"""Written into the Trainer's ``model_run`` dir: how fast training ran (bench/tasks.py)."""


class ThroughputLog(keras.callbacks.Callback):
    """Times the training part of each epoch (validation excluded) and writes the figures.

    The first epoch includes tracing and graph building, so ``examples_per_sec`` is taken
    over the later epochs when there are any. Nothing is timed per batch (no overhead).
    """

    def __init__(self, batch_size: int, path: str | None = None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.path = path
        self.epoch_seconds: list[float] = []
        self.epoch_steps: list[int] = []
        self._start = 0.0
        self._open = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        import time

        self._start, self._open = time.perf_counter(), True

    def _close(self) -> None:
        import time

        if getattr(self, "_open", False):
            self.epoch_seconds.append(time.perf_counter() - self._start)
            self.epoch_steps.append(int(self.params.get("steps") or 0))
            self._open = False

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._close()  # validation inside fit starts: the epoch's training part is over

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._close()

    def stats(self) -> dict:
        """Steps, examples, seconds, and steady examples/s (epochs after the first)."""
        steady = slice(1, None) if len(self.epoch_seconds) > 1 else slice(None)
        steps, seconds = sum(self.epoch_steps[steady]), sum(self.epoch_seconds[steady])
        return {
            "batch_size": self.batch_size,
            "epochs": len(self.epoch_seconds),
            "steps": sum(self.epoch_steps),
            "seconds": sum(self.epoch_seconds),
            "first_epoch_seconds": self.epoch_seconds[0] if self.epoch_seconds else 0.0,
            "examples_per_sec": steps * self.batch_size / seconds if seconds else 0.0,
        }

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.path:
            import json
            from pathlib import Path

            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.path).write_text(json.dumps(self.stats(), indent=2) + "\n")


def derived_hparams(task: ModuleType, tft_output: Any) -> dict:
    """Builder arguments the task reads from the Transform output, not from the config.

    A facts module may declare ``DERIVED_HPARAMS``: builder argument -> dotted path of a
    function of the ``TFTransformOutput`` (the text task's ``vocab_size`` is the size of
    its Transform vocabulary), so the model and the data cannot disagree.
    """
    return {name: import_builder(path)(tft_output)
            for name, path in getattr(task, "DERIVED_HPARAMS", {}).items()}


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
    batch_size: int,
    loss: str = "sparse_categorical_crossentropy",
    metrics: tuple[str, ...] = ("sparse_categorical_accuracy",),
) -> keras.callbacks.History:
    """Compiles and fits ``model`` for ``train_steps`` steps spread over ``epochs``.

    TensorBoard logs go to ``log_dir``, training throughput to ``log_dir``/
    ``TRAINING_STATS_FILE``; one progress line is printed per epoch.
    """
    import os

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
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"),
            ThroughputLog(batch_size, os.path.join(log_dir, TRAINING_STATS_FILE)),
        ],
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

    from models.tuning import tuned_hparams

    hparams, learning_rate = tuned_hparams(fn_args, cfg["hparams"], cfg["learning_rate"])
    hparams.update(derived_hparams(task, tft_output))
    builder = import_builder(cfg["builder"])
    model = builder(task.MODEL_INPUT_SHAPE, task.NUM_CLASSES, **hparams)
    model.summary(print_fn=lambda line, *_: logging.info(line))
    fit(
        model,
        dataset(fn_args.train_files, shuffle=True),
        dataset(fn_args.eval_files, shuffle=False),
        train_steps=fn_args.train_steps,
        eval_steps=fn_args.eval_steps,
        epochs=cfg["epochs"],
        learning_rate=learning_rate,
        log_dir=fn_args.model_run_dir,
        batch_size=cfg["batch_size"],
    )
    export(model, tft_output, fn_args.serving_model_dir)
