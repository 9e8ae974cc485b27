"""Helpers shared by the end-to-end tests: run the real CLI, read MLMD and held-out data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dlpipe.examples import feature_values, read_examples, split_files
from models.tasks.spec import Task
from pipeline.config import load_config
from pipeline.summary import executions_by_node, metadata_store
from pipeline.tasks import read_task


def dlpipe_run(cli, root: Path, *overrides: str, config_file: Path | None = None):
    """Runs ``dlpipe run`` into ``root``; returns (result, run id, the loaded config)."""
    sets = [arg for o in overrides for arg in ("--set", o)]
    if config_file is not None:
        sets = ["--config", str(config_file), *sets]
    result = cli("run", "--set", f"output_root={root}", *sets)
    match = re.search(r"^Run (\S+)$", result.stdout, re.M)
    assert match, result.stdout + result.stderr
    config = load_config(config_file, [f"output_root={root}", *overrides])
    return result, match.group(1), config


def node_states(config, run_id: str) -> dict[str, list[int]]:
    store = metadata_store(config)
    return {node: [e.last_known_state for e in execs]
            for node, execs in executions_by_node(store, run_id).items()}


def run_task(config, run_id: str) -> Task:
    """The resolved task a run recorded in its run directory."""
    task = read_task(config.pipeline_root / "_runs" / run_id)
    assert task is not None, f"run {run_id} recorded no task.json"
    return task


def eval_records(config) -> list:
    """The held-out eval split ExampleGen wrote, as tf.train.Example protos."""
    uris = sorted({p.parent.parent for p in
                   config.pipeline_root.glob("*ExampleGen/examples/*/Split-eval/*")})
    assert uris, "ExampleGen wrote no eval split"
    latest = max(uris, key=lambda p: int(p.name) if p.name.isdigit() else -1)
    return list(read_examples(split_files(latest, "eval")))


def eval_split(config, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """An image task's eval split: raw pixels [n, h, w, c] and class ids (by class keys;
    the raw label for a generative task)."""
    images, labels = [], []
    for example in eval_records(config):
        images.append(np.asarray(feature_values(example, task.image), np.float32))
        raw = feature_values(example, task.label)[0]
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        labels.append(task.class_keys.index(key) if task.class_keys else int(raw))
    return np.stack(images).reshape(-1, *task.image_shape), np.asarray(labels)


def eval_table(config, task: Task) -> tuple[list[bytes], dict[str, np.ndarray], list]:
    """A tabular task's eval split: the serialized examples, ``serving_default``'s columns
    (NaN or "" where a value is missing) and the raw label values (None where missing)."""
    examples = eval_records(config)
    columns: dict[str, list] = {k: [] for k in task.features}
    labels = []
    for example in examples:
        for key in task.features:
            values = feature_values(example, key)
            if task.feature_dtypes[key] == "string":
                columns[key].append(values[0].decode() if values else "")
            else:
                columns[key].append(float(values[0]) if values else float("nan"))
        values = feature_values(example, task.label)
        label = values[0] if values else None
        labels.append(label.decode() if isinstance(label, bytes) else label)
    arrays = {k: np.asarray(v, dtype=object if task.feature_dtypes[k] == "string"
                            else np.float32) for k, v in columns.items()}
    return [e.SerializeToString() for e in examples], arrays, labels


def serving_inputs(columns: dict[str, np.ndarray]) -> dict:
    """Columns as the tensors ``serving_default`` takes."""
    import tensorflow as tf

    return {k: tf.constant(v.tolist() if v.dtype == object else v) for k, v in columns.items()}
