"""Training facts: per-epoch curves from TensorBoard event files, time per component."""

from __future__ import annotations

import datetime
from pathlib import Path

from pipeline.report.facts import ComponentTime, Curve

EPOCH_PREFIX = "epoch_"
"""Keras' TensorBoard callback logs per-epoch scalars as ``epoch_<metric>``."""
SKIPPED_METRICS = ("learning_rate",)

# ml_metadata Execution.State values.
EXECUTION_STATES = {0: "unknown", 1: "new", 2: "running", 3: "complete", 4: "failed",
                    5: "cached", 6: "canceled"}


def read_curves(model_run_uri: str | Path) -> list[Curve]:
    """Per-epoch scalars (loss and metrics) of every split under a ModelRun artifact.

    Args:
      model_run_uri: The Trainer's ``model_run`` directory, holding one sub-directory per
        split (``train``, ``validation``) of TensorBoard event files.

    Returns:
      One curve per (metric, split), epochs counted from 1, sorted by metric then split.
    """
    import tensorflow as tf

    series: dict[tuple[str, str], dict[int, float]] = {}
    for events in sorted(Path(model_run_uri).glob("*/events.out.tfevents.*")):
        split = events.parent.name
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if not value.tag.startswith(EPOCH_PREFIX):
                    continue
                metric = value.tag[len(EPOCH_PREFIX):]
                if metric in SKIPPED_METRICS:
                    continue
                if value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    number = float(value.simple_value)
                series.setdefault((metric, split), {})[int(event.step) + 1] = number
    return [
        Curve(metric, split, sorted(points), [points[e] for e in sorted(points)])
        for (metric, split), points in sorted(series.items(), key=_curve_order)
    ]


def _curve_order(item) -> tuple:
    (metric, split), _ = item
    return (metric != "loss", metric, split != "train", split)


def component_times(executions: dict[str, list]) -> list[ComponentTime]:
    """Time per component execution, from MLMD create and last-update times, in start order.

    Args:
      executions: MLMD executions keyed by node id (``pipeline.summary.executions_by_node``).
    """
    rows = []
    for node, execs in executions.items():
        for e in execs:
            start = e.create_time_since_epoch
            seconds = max(e.last_update_time_since_epoch - start, 0) / 1000.0
            started = datetime.datetime.fromtimestamp(start / 1000.0, datetime.timezone.utc)
            rows.append((start, ComponentTime(
                node=node,
                state=EXECUTION_STATES.get(e.last_known_state, str(e.last_known_state)),
                seconds=seconds,
                started=started.strftime("%H:%M:%S"),
            )))
    return [row for _, row in sorted(rows, key=lambda r: r[0])]
