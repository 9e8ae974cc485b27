"""Evaluation facts from TFMA's output: metrics with the baseline, per class, confusion;
and from the GenerativeEvaluator's metrics file for generative models."""

from __future__ import annotations

from pathlib import Path

from models.tasks.spec import Task
from pipeline.report.facts import ClassMetrics, ConfusionMatrix, MetricRow, Regression

CONFUSION_PLOT = "multi_class_confusion_matrix_plot"
CANDIDATE_NAMES = ("", "candidate")
BASELINE_NAME = "baseline"


def metric_rows(evaluation_uri: str | Path) -> list[MetricRow]:
    """Overall (unsliced) metrics of the candidate, with the baseline's and the change.

    TFMA records the baseline's metrics under model name ``baseline`` and the change as
    ``is_diff`` keys of the candidate, when a baseline model was evaluated.
    """
    import tensorflow_model_analysis as tfma

    candidate: dict[str, float] = {}
    baseline: dict[str, float] = {}
    diff: dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(str(evaluation_uri)):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for kv in slice_metrics.metric_keys_and_values:
            if kv.value.WhichOneof("type") != "double_value":
                continue
            value = kv.value.double_value.value
            if kv.key.model_name == BASELINE_NAME:
                if not kv.key.is_diff:
                    baseline[kv.key.name] = value
            elif kv.key.model_name in CANDIDATE_NAMES:
                (diff if kv.key.is_diff else candidate)[kv.key.name] = value
    return [MetricRow(name, value, baseline.get(name), diff.get(name))
            for name, value in sorted(candidate.items(), key=lambda kv: kv[0] == "example_count")]


def generative_metrics(evaluation_uri: str | Path) -> dict | None:
    """The GenerativeEvaluator's metrics file in an evaluation, or None (TFMA's)."""
    from components.generative_evaluator.metrics import read_metrics

    return read_metrics(evaluation_uri)


def generative_metric_rows(data: dict) -> list[MetricRow]:
    """A generative model's headline metrics, with the latest blessed model's and the change.

    The mean-image baseline (VAE) and the eval images' scores (GAN) are rows of their own.
    """
    from components.generative_evaluator.metrics import headline

    baseline = data.get("baseline_metrics") or {}
    diff = data.get("diff") or {}
    return [MetricRow(name, float(value), baseline.get(name), diff.get(name))
            for name, value in headline(data).items()]


def confusion_matrix(evaluation_uri: str | Path, task: Task) -> ConfusionMatrix | None:
    """The overall slice's confusion matrix from TFMA's MultiClassConfusionMatrixPlot.

    Returns:
      The matrix over the task's classes (their ids are the class indices), or
      ``None`` when the evaluation holds no such plot.
    """
    import tensorflow_model_analysis as tfma

    for plots in tfma.load_plots(str(evaluation_uri)):
        if plots.slice_key.single_slice_keys:
            continue
        for kv in plots.plot_keys_and_values:
            if kv.key.name != CONFUSION_PLOT or kv.key.model_name not in CANDIDATE_NAMES:
                continue
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            entries = [(e.actual_class_id, e.predicted_class_id, e.num_weighted_examples)
                       for e in matrices[0].entries]
            names = list(task.classes)
            size = max([len(names)] + [max(a, p) + 1 for a, p, _ in entries])
            labels = names + [str(i) for i in range(len(names), size)]
            counts = [[0.0] * size for _ in range(size)]
            for actual, predicted, n in entries:
                if actual >= 0 and predicted >= 0:  # -1: no prediction above threshold
                    counts[actual][predicted] += n
            return ConfusionMatrix(labels, counts, "TFMA MultiClassConfusionMatrixPlot")
    return None


def regression_points(model_dir: str | Path, examples_uri: str | Path, task: Task,
                      limit: int = 2000) -> Regression:
    """The model's ``regress`` predictions against the actual labels of the eval split."""
    import tensorflow as tf

    from dlpipe.contract import EXAMPLES_INPUT, REGRESS_OUTPUT, REGRESS_SIGNATURE
    from dlpipe.examples import feature_values, read_records, split_files

    regress = tf.saved_model.load(str(model_dir)).signatures[REGRESS_SIGNATURE]
    from tensorflow.core.example import example_pb2

    records, actual = [], []
    for record in read_records(split_files(examples_uri, "eval"), limit):
        values = feature_values(example_pb2.Example.FromString(record), task.label)
        if values:  # an example without a label is left out, as in training and TFMA
            records.append(record)
            actual.append(float(values[0]))
    predicted = []
    for start in range(0, len(records), 256):
        out = regress(**{EXAMPLES_INPUT: tf.constant(records[start:start + 256])})
        predicted.extend(float(v) for v in out[REGRESS_OUTPUT].numpy().reshape(-1))
    return Regression(task.label, task.label_unit, actual, predicted)


def class_metrics(per_class_accuracy: dict[str, float],
                  confusion: ConfusionMatrix | None) -> list[ClassMetrics]:
    """Per-class metrics: TFMA's per-slice accuracy, and from the confusion matrix the
    support, precision, recall and F1 of each class.

    Args:
      per_class_accuracy: Accuracy per class slice (``RunSummary.per_class_accuracy``),
        keyed by class name.
      confusion: The confusion matrix, if any.
    """
    labels = confusion.labels if confusion else sorted(per_class_accuracy, key=_numeric)
    rows = []
    for i, label in enumerate(labels):
        row = ClassMetrics(label, accuracy=per_class_accuracy.get(label))
        if confusion is not None:
            actual = sum(confusion.counts[i])
            predicted = sum(r[i] for r in confusion.counts)
            hits = confusion.counts[i][i]
            row.support = int(actual)
            row.recall = hits / actual if actual else None
            row.precision = hits / predicted if predicted else None
            if row.precision and row.recall:
                row.f1 = 2 * row.precision * row.recall / (row.precision + row.recall)
            elif row.precision is not None and row.recall is not None:
                row.f1 = 0.0
        rows.append(row)
    return rows


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), "") if text.lstrip("-").isdigit() else (1 << 30, text)
