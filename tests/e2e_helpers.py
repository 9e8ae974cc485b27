"""Helpers shared by the end-to-end tests: run the real CLI, read MLMD and held-out data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from models.digits import features
from pipeline.config import load_config
from pipeline.summary import executions_by_node, metadata_store


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


def eval_split(config) -> tuple[np.ndarray, np.ndarray]:
    """The held-out eval split written by ExampleGen (raw pixels and labels)."""
    files = sorted(config.pipeline_root.glob("*ExampleGen/examples/*/Split-eval/*"))
    assert files, "ExampleGen wrote no eval split"
    spec = {features.IMAGE_KEY: tf.io.FixedLenFeature([features.IMAGE_SIZE], tf.float32),
            features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64)}
    ds = tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")
    parsed = [tf.io.parse_single_example(r, spec) for r in ds]
    images = np.stack([p[features.IMAGE_KEY].numpy() for p in parsed])
    labels = np.array([p[features.LABEL_KEY].numpy()[0] for p in parsed])
    return images.reshape(-1, *features.IMAGE_SHAPE), labels
