"""The one training recipe: datasets, model, compile, fit. Trainer, Tuner and the generative
loops all use it (``models.tasks.trainer``, ``models.tasks.tuner``).

``custom_config`` (set by the pipeline) carries ``task`` (the resolved ``Task``), ``model``
(``builder``, ``hparams``) and ``train`` (``batch_size``, ``learning_rate``, ``epochs``,
``seed``); the Tuner adds its search settings.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from models import heads, zoo
from models.tasks.spec import Task, vocab_name

TRAINING_STATS_FILE = "training_stats.json"
"""Written into the Trainer's ``model_run`` dir: how fast training ran (bench/tasks.py)."""
LEARNING_RATE = "learning_rate"
"""A tunable key that is not a builder argument: the Adam learning rate."""


def transformed_dataset(
    fn_args: Any,
    file_pattern: list[str],
    tft_output: Any,
    feature_key: str,
    label_key: str | None,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    num_epochs: int | None = None,
    weight_key: str | None = None,
) -> tf.data.Dataset:
    """``(feature, label)`` pairs, ``(feature, label, weight)`` triples with ``weight_key``
    (Keras' sample weights), or features alone without ``label_key``, read from transformed
    examples; repeated unless ``num_epochs`` is given."""
    from tfx_bsl.public import tfxio

    dataset = fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=label_key, shuffle=shuffle, shuffle_seed=seed,
            num_epochs=num_epochs,
        ),
        tft_output.transformed_metadata.schema,
    )
    if label_key is None:
        return dataset.map(lambda features: features[feature_key])
    if weight_key is None:
        return dataset.map(lambda features, label: (features[feature_key], label))
    return dataset.map(
        lambda features, label: (features[feature_key], label, features[weight_key]))


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
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.path).write_text(json.dumps(self.stats(), indent=2) + "\n")


# Hyperparameters --------------------------------------------------------------------------


def tuned_hparams(fn_args: Any, hparams: dict, learning_rate: float) -> tuple[dict, float]:
    """Merges the Tuner's best values (if the Trainer got any) over the configured ones.

    Args:
      fn_args: TFX Trainer FnArgs; ``hyperparameters`` is a KerasTuner ``HyperParameters``
        config (``{"space": [...], "values": {...}}``) or None without a Tuner.
      hparams: The builder arguments from the config.
      learning_rate: The configured learning rate.

    Returns:
      The builder arguments and learning rate to train with.
    """
    config = getattr(fn_args, "hyperparameters", None)
    if not config:
        return dict(hparams), learning_rate
    values = dict(config.get("values", config))
    learning_rate = float(values.pop(LEARNING_RATE, learning_rate))
    logging.info("Training with the Tuner's best hyperparameters: %s (learning rate %g)",
                 values, learning_rate)
    return {**hparams, **values}, learning_rate


def derived_hparams(task: Task, tft_output: Any) -> dict[str, Any]:
    """Builder arguments read from the Transform output (``zoo.DERIVED_HPARAMS``): the text
    kind's ``vocab_size`` is the size of the vocabulary Transform wrote."""
    if task.is_text:
        from models.tasks.learned import text_vocabulary_size

        size = text_vocabulary_size(task, tft_output)
        if size is None:
            raise ValueError(
                f"The builder's vocab_size is read from the Transform vocabulary named "
                f"{vocab_name(task.text)!r}, which the preprocessing_fn did not write. A "
                f"preprocessing_fn of your own must name its vocabulary so "
                f"(tft.compute_and_apply_vocabulary(..., vocab_filename="
                f"{vocab_name(task.text)!r})).")
        return {"vocab_size": size}
    if task.is_retrieval:
        return {"num_users": tft_output.vocabulary_size_by_name(vocab_name(task.user)),
                "num_items": tft_output.vocabulary_size_by_name(vocab_name(task.item))}
    return {}


def input_shape(task: Task, tft_output: Any) -> tuple[int, ...]:
    """The shape of one model input (no batch), as the Transform writes it."""
    from models.tasks.learned import user_preprocessing

    if user_preprocessing(task):
        pass  # the user's Transform decides: read it from its output spec
    elif task.is_image:
        return tuple(task.image_shape)
    elif task.is_text:
        return (task.sequence_length,)
    elif task.is_audio:
        from models.tasks.audio import spectrogram_shape

        return (*spectrogram_shape(task.audio_samples, task.sample_rate), 1)
    elif task.is_retrieval:
        return ()
    shape = tft_output.transformed_feature_spec()[task.model_input].shape
    return tuple(int(d) for d in shape)


def build_model(task: Task, model_config: dict[str, Any], tft_output: Any,
                hparams: dict[str, Any]) -> keras.Model:
    """The configured builder with the task's input shape, outputs and head.

    Args:
      task: The resolved task (a classification or regression kind).
      model_config: ``{"builder": name, "hparams": {...}}`` from the config.
      tft_output: The run's ``tft.TFTransformOutput``.
      hparams: The builder arguments to use (the config's, or the Tuner's best).
    """
    builder, preset = zoo.load_builder(model_config.get("builder", ""), task.kind,
                                       task.module_file)
    if task.is_retrieval:  # ids in, catalogue scores out: no input shape, no head
        return builder(**{**preset, **hparams, **derived_hparams(task, tft_output)},
                       top_k=task.top_k)
    head = heads.REGRESSION if task.is_regression else heads.CLASSIFICATION
    outputs = 1 if task.is_regression else task.num_classes
    arguments = {**preset, **hparams, **derived_hparams(task, tft_output)}
    return builder(input_shape(task, tft_output), outputs, head=head, **arguments)


def compile_model(model: keras.Model, task: Task, learning_rate: float) -> None:
    """Adam, with the kind's loss and metric (regression: on the z-scored label), both
    weighted by the examples' weights (0 for an example without a label)."""
    if task.is_retrieval:  # the model computes its in-batch softmax loss and recall@k
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
        return
    if task.is_regression:
        loss, metrics = "mean_squared_error", ["mean_absolute_error"]
    else:
        loss, metrics = "sparse_categorical_crossentropy", ["sparse_categorical_accuracy"]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=loss,
                  weighted_metrics=metrics)


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    *,
    train_steps: int,
    eval_steps: int,
    epochs: int,
    log_dir: str,
    batch_size: int,
) -> keras.callbacks.History:
    """Fits a compiled ``model`` for ``train_steps`` steps spread over ``epochs``.

    TensorBoard logs go to ``log_dir``, training throughput to ``log_dir``/
    ``TRAINING_STATS_FILE``; one progress line is printed per epoch.
    """
    epochs = min(epochs, train_steps)
    return model.fit(
        train,
        steps_per_epoch=max(1, train_steps // epochs),
        epochs=epochs,
        validation_data=validation,
        validation_steps=eval_steps if validation is not None else None,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"),
            ThroughputLog(batch_size, os.path.join(log_dir, TRAINING_STATS_FILE)),
        ],
        verbose=2,
    )
