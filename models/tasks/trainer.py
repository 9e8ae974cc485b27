"""The TFX Trainer ``run_fn`` of every task kind (``models.tasks.trainer.run_fn``).

``custom_config`` carries the resolved task, the model (``builder``, ``hparams``) and the
training settings (see ``models.training``). Classifiers and regressors: the configured zoo
builder with the task's input shape and head, Adam, the kind's loss; then the export of
``models.tasks.export``. Regressors also record how well predicting the train mean does on
the eval split (``BASELINE_FILE``), the bar a model must beat. VAE and GAN: the builder's own
training step, then ``models.generative.export``. A ``run_fn(fn_args, task)`` in
``task.module_file`` may train the model itself and return it; dlpipe still exports it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from models import distribution, training, zoo
from models.generative import export as generative_export
from models.tasks import export
from models.tasks.learned import learned_facts
from models.tasks.spec import GAN, RECALL, VAE, Task

BASELINE_FILE = "baseline_metrics.json"
"""In the Trainer's ``model_run`` dir, the bar a model must beat on the eval split.
Regression: the errors of predicting the train split's mean label (label units):
``mean_absolute_error``, ``mean_squared_error``, ``root_mean_squared_error``,
``example_count``. Retrieval: ``recall_at_k`` of recommending the k items most frequent in
the train split to every user, ``k``, ``example_count``."""

GAN_ADAM_BETA_1 = 0.5
"""Adam's first-moment decay for both GAN optimizers (DCGAN's setting: 0.9 oscillates)."""


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point for every task kind."""
    import tensorflow_transform as tft

    cfg = fn_args.custom_config
    task = Task.from_dict(cfg["task"])
    train = cfg["train"]
    keras.utils.set_random_seed(train["seed"])
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    if task.is_generative:
        train_generative(fn_args, task, tft_output)
        return
    user_run = zoo.user_function(task.module_file, "run_fn")
    if user_run is not None:
        model = user_run(fn_args, task)
        if not isinstance(model, keras.Model):
            raise TypeError(f"run_fn of {task.module_file} must return the trained "
                            f"keras.Model; it returned {type(model).__name__}.")
    else:
        model = train_supervised(fn_args, task, tft_output)
    if task.is_retrieval:
        from models.tasks.retrieval_export import export_retrieval_model

        export_retrieval_model(model, tft_output, fn_args.serving_model_dir, task)
    else:
        export.export_model(model, tft_output, fn_args.serving_model_dir, task)
    if task.is_regression:
        write_baseline(fn_args, task, tft_output)
    if task.is_retrieval:
        write_popularity_baseline(fn_args, task, tft_output)


def datasets(fn_args: Any, task: Task, tft_output: Any, labels: bool = True
             ) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The repeated train and eval datasets of transformed examples (shuffled train)."""
    train = fn_args.custom_config["train"]

    def dataset(files: list[str], shuffle: bool) -> tf.data.Dataset:
        return training.transformed_dataset(
            fn_args, files, tft_output, task.model_input,
            task.label_input if labels else None,
            batch_size=train["batch_size"], seed=train["seed"], shuffle=shuffle,
            weight_key=task.weight_input if labels else None)

    return dataset(fn_args.train_files, True), dataset(fn_args.eval_files, False)


def train_supervised(fn_args: Any, task: Task, tft_output: Any) -> keras.Model:
    """Builds, compiles and fits the configured classifier or regressor."""
    cfg = fn_args.custom_config
    hparams, learning_rate = training.tuned_hparams(
        fn_args, cfg["model"]["hparams"], cfg["train"]["learning_rate"])
    # train.distribution: build, compile and fit on every device of the strategy.
    with distribution.strategy(cfg["train"].get("distribution", distribution.NONE),
                               cfg["train"].get("cpu_devices", 0)).scope():
        model = training.build_model(task, cfg["model"], tft_output, hparams)
        model.summary(print_fn=lambda line, *_: logging.info(line))
        training.compile_model(model, task, learning_rate)
        train, validation = datasets(fn_args, task, tft_output)
        training.fit(model, train, validation, train_steps=fn_args.train_steps,
                     eval_steps=fn_args.eval_steps, epochs=cfg["train"]["epochs"],
                     log_dir=fn_args.model_run_dir, batch_size=cfg["train"]["batch_size"])
    return model


def write_baseline(fn_args: Any, task: Task, tft_output: Any) -> dict[str, float]:
    """The eval split's errors of predicting the train mean, in label units; written to
    ``model_run/BASELINE_FILE`` for the run summary and report."""
    std = learned_facts(task, tft_output)["label"]["std"]
    dataset = training.transformed_dataset(
        fn_args, fn_args.eval_files, tft_output, task.model_input, task.label_input,
        batch_size=256, seed=0, shuffle=False, num_epochs=1, weight_key=task.weight_input)
    batches = [(tf.reshape(z, [-1]), tf.reshape(w, [-1])) for _, z, w in dataset]
    z = tf.concat([b[0] for b in batches], axis=0).numpy()
    present = tf.concat([b[1] for b in batches], axis=0).numpy() > 0
    # The label is z-scored with the train mean and std: predicting the mean is z = 0, so
    # each error in label units is std * |z| (examples without a label are left out).
    absolute = abs(z[present]) * std
    result = {
        "example_count": int(present.sum()),
        "mean_absolute_error": float(absolute.mean()),
        "mean_squared_error": float((absolute ** 2).mean()),
        "root_mean_squared_error": float((absolute ** 2).mean() ** 0.5),
    }
    path = Path(fn_args.model_run_dir) / BASELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def write_popularity_baseline(fn_args: Any, task: Task, tft_output: Any) -> dict[str, float]:
    """recall@k on the eval split of recommending the k items most frequent in the train
    split to everyone; written to ``model_run/BASELINE_FILE`` for the summary and report."""
    import numpy as np

    def items(files: list[str]) -> np.ndarray:
        dataset = training.transformed_dataset(
            fn_args, files, tft_output, task.model_input, task.label_input, batch_size=1024,
            seed=0, shuffle=False, num_epochs=1, weight_key=task.weight_input)
        batches = [(tf.reshape(y, [-1]).numpy(), tf.reshape(w, [-1]).numpy())
                   for _, y, w in dataset]
        ids = np.concatenate([b[0] for b in batches]) if batches else np.zeros(0, np.int64)
        weights = np.concatenate([b[1] for b in batches]) if batches else np.zeros(0)
        return ids[weights > 0]

    train, held_out = items(fn_args.train_files), items(fn_args.eval_files)
    counts = np.bincount(train, minlength=1)
    popular = np.argsort(-counts, kind="stable")[: task.top_k]
    result = {"example_count": int(len(held_out)), "k": task.top_k,
              RECALL: float(np.isin(held_out, popular).mean()) if len(held_out) else 0.0}
    path = Path(fn_args.model_run_dir) / BASELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def train_generative(fn_args: Any, task: Task, tft_output: Any) -> keras.Model:
    """Builds, compiles, fits and exports the configured VAE or GAN (labels unused)."""
    cfg = fn_args.custom_config
    train_cfg = cfg["train"]
    builder, preset = zoo.load_builder(cfg["model"].get("builder", ""), task.kind,
                                       task.module_file)
    model = builder(tuple(task.image_shape),
                    **{"seed": train_cfg["seed"], **preset, **cfg["model"]["hparams"]})
    model.summary(print_fn=lambda line, *_: logging.info(line))
    lr = train_cfg["learning_rate"]
    if task.kind == VAE:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr))
    else:
        model.compile(
            d_optimizer=keras.optimizers.Adam(learning_rate=lr, beta_1=GAN_ADAM_BETA_1),
            g_optimizer=keras.optimizers.Adam(learning_rate=lr, beta_1=GAN_ADAM_BETA_1))
    train, validation = datasets(fn_args, task, tft_output, labels=False)
    # A GAN's losses on held-out images say little: the GenerativeEvaluator scores it.
    training.fit(model, train, validation if task.kind == VAE else None,
                 train_steps=fn_args.train_steps, eval_steps=fn_args.eval_steps,
                 epochs=train_cfg["epochs"], log_dir=fn_args.model_run_dir,
                 batch_size=train_cfg["batch_size"])
    if task.kind == GAN:
        generative_export.export_gan(model, tft_output, fn_args.serving_model_dir, task)
    else:
        generative_export.export_vae(model, tft_output, fn_args.serving_model_dir, task,
                                     seed=train_cfg["seed"])
    return model
