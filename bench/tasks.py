"""Benchmark: each task's cold pipeline, and its training throughput against a plain model.fit.

For every task config (default: all in pipeline/configs/), in a fresh output root:
1. runs ``dlpipe run --config <task>`` cold, as a user would (a new process, imports
   included) and records the wall time and the Trainer's time;
2. reads the Trainer's own throughput (``model_run/training_stats.json``, written by
   models.training.ThroughputLog: examples/s over the training part of the epochs after
   the first);
3. trains the same model (same builder, hyperparameters, batch size, steps and epochs) with a
   plain ``model.fit`` on the same transformed examples held in memory, in this process, and
   times it with the same callback.

The ratio of (2) to (3) is what reading through TFX's data accessor costs per step; the cold
wall time against the plain fit's total is what the whole pipeline costs (validation,
Transform, evaluation, serving checks, conversions) on top of training. The last column is
the run's headline eval metric (accuracy, MAE against predicting the train mean, recall@k
against recommending the most popular items) from its summary.json.

Usage: .venv/bin/python bench/tasks.py [--config digits_cnn --config penguins_mlp ...]
A task whose training is not a plain classifier fit (VAE, GAN) reports its own throughput
and the plain-fit column says why it is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # end-of-sequence warnings per fit

LINE = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+(executed|cached|skipped|failed)\s+([\d.]+) s$")


def cold_run(config_file: Path, root: Path) -> tuple[float, dict[str, float]]:
    """Runs the pipeline cold; returns wall seconds and each component's seconds."""
    dlpipe = Path(sys.executable).with_name("dlpipe")
    args = [str(dlpipe), "run", "--config", str(config_file), "--set", f"output_root={root}"]
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"dlpipe run --config {config_file} failed:\n{result.stdout}\n{result.stderr}")
    times = {m.group(1): float(m.group(3))
             for m in map(LINE.match, result.stdout.splitlines()) if m}
    return wall, times


def held_out(config) -> str:
    """The run's headline eval metric from its summary.json (and the baseline it beats)."""
    runs = sorted((config.pipeline_root / "_runs").iterdir())
    summary = json.loads((runs[-1] / "summary.json").read_text())
    metrics, base = summary.get("metrics", {}), summary.get("mean_baseline", {})
    count = f" of {metrics['example_count']:,.0f}" if metrics.get("example_count") else ""
    for name, short, baseline in (("sparse_categorical_accuracy", "accuracy", ""),
                                  ("mean_absolute_error", "MAE", "train mean"),
                                  ("recall_at_k", "recall@k", "popularity")):
        if name in metrics:
            text = f"{short} {metrics[name]:.4g}{count}"
            if base.get(name):
                text += f" ({metrics[name] / base[name]:.2f}x {baseline})"
            return text
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()) or "-"


def trainer_stats(config) -> dict:
    from models.training import TRAINING_STATS_FILE

    files = sorted(config.pipeline_root.glob(f"Trainer/model_run/*/{TRAINING_STATS_FILE}"))
    return json.loads(files[-1].read_text()) if files else {}


def plain_fit(config) -> dict | str:
    """The same model trained with model.fit on in-memory transformed examples."""
    import keras
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft

    from models.training import ThroughputLog, build_model, compile_model
    from pipeline.tasks import read_task

    runs = sorted((config.pipeline_root / "_runs").iterdir())
    task = read_task(runs[-1])
    if task is None or task.is_generative:
        return "not a supervised fit (custom training loop)"
    transform_dir = sorted(config.pipeline_root.glob("Transform/transform_graph/*"))[-1]
    tft_output = tft.TFTransformOutput(str(transform_dir))
    spec = tft_output.transformed_feature_spec()
    files = sorted(config.pipeline_root.glob(
        "Transform/transformed_examples/*/Split-train/*"))
    records = tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")
    parsed = [tf.io.parse_single_example(r, spec) for r in records]
    x = np.stack([p[task.model_input].numpy() for p in parsed])
    y = np.stack([np.reshape(p[task.label_input].numpy(), []) for p in parsed])
    w = np.stack([np.reshape(p[task.weight_input].numpy(), []) for p in parsed])

    train = config.train
    keras.utils.set_random_seed(train.seed)
    model = build_model(task, {"builder": config.model.builder}, tft_output,
                        dict(config.model.hparams))
    if not task.is_retrieval:  # a retrieval model takes user indices as they are
        x = x.reshape((len(x), *model.input_shape[1:]))
    compile_model(model, task, train.learning_rate)
    epochs = min(train.epochs, train.train_steps)
    dataset = (tf.data.Dataset.from_tensor_slices((x, y, w)).shuffle(len(x), seed=train.seed)
               .repeat().batch(train.batch_size).prefetch(tf.data.AUTOTUNE))
    log = ThroughputLog(train.batch_size)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=max(1, train.train_steps // epochs), epochs=epochs,
              callbacks=[log], verbose=0)
    stats = log.stats()
    stats["wall"] = time.perf_counter() - start
    return stats


def main() -> None:
    from dlpipe.quiet import import_tensorflow_quietly
    from pipeline.config import CONFIG_DIR, load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[],
                        help="Task config name in pipeline/configs (default: all).")
    args = parser.parse_args()
    names = args.config or sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    # The GAN's evaluation scores samples with the digits classifier: run that first.
    names.sort(key=lambda n: (n != "digits_cnn", n))

    import_tensorflow_quietly()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"{'task':<22}{'cold run':>10}{'Trainer':>10}{'pipeline ex/s':>15}"
          f"{'plain fit ex/s':>16}{'ratio':>8}{'plain fit total':>17}   held-out (eval split)",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="dlpipe-bench-tasks-") as tmp:
        for name in names:
            config_file = CONFIG_DIR / f"{name}.yaml"
            wall, times = cold_run(config_file, Path(tmp))
            config = load_config(config_file, [f"output_root={tmp}"])
            try:
                plain = plain_fit(config)
            except Exception as e:  # noqa: BLE001 - one task's failure must not lose the rest
                plain = f"plain fit failed: {type(e).__name__}: {e}"
            print(row(name, wall, times.get("Trainer", 0.0), trainer_stats(config), plain)
                  + f"   {held_out(config)}", flush=True)


def row(name: str, wall: float, trainer: float, stats: dict, plain: dict | str) -> str:
    """One line of the table (printed as soon as the task is measured)."""
    ours = stats.get("examples_per_sec", 0.0)
    if isinstance(plain, dict):
        theirs = plain["examples_per_sec"]
        ratio = f"{ours / theirs:7.2f}x" if theirs else "      -"
        cells = f"{theirs:>16,.0f}{ratio:>8}{plain['wall']:>15.1f} s"
    else:
        cells = f"  {plain}"
    return f"{name:<22}{wall:>8.1f} s{trainer:>8.1f} s{ours:>15,.0f}{cells}"


if __name__ == "__main__":
    main()
