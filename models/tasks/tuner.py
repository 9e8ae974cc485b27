"""Hyperparameter search for the supervised kinds: the TFX Tuner's ``tuner_fn`` (KerasTuner).

The search space comes from the config (``tune.search_space``: hyperparameter -> candidate
values); every other builder argument stays as ``model.hparams`` sets it. Each trial builds
and compiles the model exactly as the Trainer does (``models.training``), trains it for
``tune.trial_steps`` steps on the transformed train split and is scored on the eval split.
The Tuner writes the best values as ``best_hyperparameters``; the Trainer reads them
(``training.tuned_hparams``), so the searched values reach the served model.
"""

from __future__ import annotations

from typing import Any

from models import training
from models.tasks.spec import Task
from models.tasks.trainer import datasets

# Keras metric names (after the ``val_`` prefix) that are errors: lower is better.
_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "msle", "crossentropy",
                    "hinge", "divergence")


def objective_direction(objective: str) -> str:
    """``"min"`` for a loss or error metric (``val_loss``, ``val_mean_absolute_error``),
    ``"max"`` for any other (accuracy, AUC, recall)."""
    name = objective.removeprefix("val_").lower()
    return "min" if name.endswith(_LOWER_IS_BETTER) else "max"


def tuner_fn(fn_args: Any) -> Any:
    """TFX Tuner entry point: a seeded KerasTuner random search over the config's space.

    ``fn_args.custom_config`` carries ``task``, ``model``, ``train`` (as the Trainer's) and
    ``tune``: ``search_space``, ``max_trials``, ``objective``.
    """
    import keras
    import keras_tuner
    import tensorflow_transform as tft
    from tfx.components.tuner.component import TunerFnResult

    cfg = fn_args.custom_config
    task = Task.from_dict(cfg["task"])
    tune = cfg["tune"]
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    # The Tuner's FnArgs name the transform output transform_graph_path; the shared
    # datasets read it as the Trainer's transform_output.
    fn_args.transform_output = fn_args.transform_graph_path

    def build(hp: keras_tuner.HyperParameters) -> keras.Model:
        hparams = dict(cfg["model"]["hparams"])
        learning_rate = cfg["train"]["learning_rate"]
        for key, choices in tune["search_space"].items():
            value = hp.Choice(key, choices)
            if key == training.LEARNING_RATE:
                learning_rate = value
            else:
                hparams[key] = value
        model = training.build_model(task, cfg["model"], tft_output, hparams)
        training.compile_model(model, task, learning_rate)
        return model

    direction = objective_direction(tune["objective"])
    tuner = keras_tuner.RandomSearch(
        build,
        objective=keras_tuner.Objective(tune["objective"], direction=direction),
        max_trials=tune["max_trials"],
        seed=cfg["train"]["seed"],
        directory=fn_args.working_dir,
        project_name="search",
        overwrite=True,
    )
    train, validation = datasets(fn_args, task, tft_output)
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": train,
            "validation_data": validation,
            "steps_per_epoch": fn_args.train_steps,
            "validation_steps": fn_args.eval_steps,
            "epochs": 1,
            "verbose": 2,
        },
    )
