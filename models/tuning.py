"""Hyperparameter search for any classifier task: the TFX Tuner's ``tuner_fn`` (KerasTuner).

The search space comes from the config (``tune.search_space``: hyperparameter -> candidate
values); every other builder argument stays as ``train.hparams`` sets it. Each trial builds the
configured builder with one choice per searched key, trains it for ``tune.trial_steps`` steps
on the transformed train split and is scored on the eval split. The Tuner writes the best
values as ``best_hyperparameters``; the Trainer reads them (``tuned_hparams``) and trains the
final model with them, so the searched values reach the served model.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

LEARNING_RATE = "learning_rate"
"""A searchable key that is not a builder argument: the Adam learning rate."""


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


def tuner_fn(fn_args: Any) -> Any:
    """TFX Tuner entry point: a seeded KerasTuner random search over the config's space.

    ``fn_args.custom_config`` carries ``task`` (facts module), ``builder``, ``hparams``,
    ``search_space``, ``max_trials``, ``objective``, ``batch_size``, ``learning_rate`` and
    ``seed`` from the pipeline config.
    """
    import keras
    import keras_tuner
    import tensorflow_transform as tft
    from tfx.components.tuner.component import TunerFnResult

    from models.training import derived_hparams, import_builder, transformed_dataset

    cfg = fn_args.custom_config
    task = importlib.import_module(cfg["task"])
    builder = import_builder(cfg["builder"])
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    derived = derived_hparams(task, tft_output)

    def build(hp: keras_tuner.HyperParameters) -> keras.Model:
        hparams = {**cfg["hparams"], **derived}
        learning_rate = cfg["learning_rate"]
        for key, choices in cfg["search_space"].items():
            value = hp.Choice(key, choices)
            if key == LEARNING_RATE:
                learning_rate = value
            else:
                hparams[key] = value
        model = builder(task.MODEL_INPUT_SHAPE, task.NUM_CLASSES, **hparams)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                      loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        return model

    tuner = keras_tuner.RandomSearch(
        build,
        objective=keras_tuner.Objective(cfg["objective"], direction="max"),
        max_trials=cfg["max_trials"],
        seed=cfg["seed"],
        directory=fn_args.working_dir,
        project_name="search",
        overwrite=True,
    )

    def dataset(files: list[str], shuffle: bool) -> Any:
        return transformed_dataset(
            fn_args, files, tft_output, task.MODEL_INPUT_KEY, task.LABEL_KEY,
            batch_size=cfg["batch_size"], seed=cfg["seed"], shuffle=shuffle,
        )

    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": dataset(fn_args.train_files, shuffle=True),
            "validation_data": dataset(fn_args.eval_files, shuffle=False),
            "steps_per_epoch": fn_args.train_steps,
            "validation_steps": fn_args.eval_steps,
            "epochs": 1,
            "verbose": 2,
        },
    )
