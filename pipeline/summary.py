"""A run's outcome, read back from ML Metadata and the artifacts it points to."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from models.tasks.spec import Task
from pipeline.config import PipelineConfig


@dataclasses.dataclass
class RunSummary:
    run_id: str
    blessed: bool | None = None
    blessing_reason: str = ""
    pushed: bool = False
    pushed_version: str = ""
    pushed_path: str = ""
    push_reason: str = ""
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    metrics_source: str = "eval split"
    """What the metrics were measured on (a GAN's: generated samples, not the eval split)."""
    per_class_accuracy: dict[str, float] = dataclasses.field(default_factory=dict)
    """Class name -> accuracy on the eval split."""
    mean_baseline: dict[str, float] = dataclasses.field(default_factory=dict)
    """Regression: the eval split's errors when predicting the train mean (label units), the
    bar the model is measured against."""
    task_kind: str = ""
    baseline_diff: dict[str, float] = dataclasses.field(default_factory=dict)
    anomalies: list = dataclasses.field(default_factory=list)
    edge_report: dict = dataclasses.field(default_factory=dict)
    edge_pushed_path: str = ""
    edge_pushed_formats: str = ""
    artifacts: dict[str, str] = dataclasses.field(default_factory=dict)
    span: int | None = None


def metadata_store(config: PipelineConfig):
    """A read-only MLMD store on the pipeline's metadata (SQLite or MySQL)."""
    from pipeline.metadata import open_store

    return open_store(config, readonly=True)


def executions_by_node(store, run_id: str) -> dict[str, list]:
    """The run's executions keyed by node id (the ``node`` context's name suffix)."""
    run_ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run_ctx is None:
        return {}
    node_type = store.get_context_type("node").id
    result: dict[str, list] = {}
    for execution in store.get_executions_by_context(run_ctx.id):
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.type_id == node_type:
                result.setdefault(ctx.name.rpartition(".")[2], []).append(execution)
    return result


def run_outputs(store, run_id: str) -> dict[str, object]:
    """Output artifacts of a run's executions (executed or cached), keyed
    ``"<node>.<output key>"``, e.g. ``"Evaluator.blessing"``."""
    from ml_metadata.proto import metadata_store_pb2

    node_of = {e.id: node for node, execs in executions_by_node(store, run_id).items()
               for e in execs}
    if not node_of:
        return {}
    events = [ev for ev in store.get_events_by_execution_ids(list(node_of))
              if ev.type in (metadata_store_pb2.Event.OUTPUT,
                             metadata_store_pb2.Event.DECLARED_OUTPUT)]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([ev.artifact_id for ev in events])}
    outputs = {}
    for ev in events:
        key = next((s.key for s in ev.path.steps if s.HasField("key")), "?")
        outputs[f"{node_of[ev.execution_id]}.{key}"] = artifacts[ev.artifact_id]
    return outputs


def _prop(artifact, name: str):
    value = artifact.custom_properties.get(name)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def example_gen_output(outputs: dict[str, object]):
    """The run's ExampleGen output, whichever ExampleGen the ingest kind used."""
    return next((a for key, a in outputs.items() if key.endswith("ExampleGen.examples")), None)


def artifact_span(artifact) -> int | None:
    """The data span of an Examples artifact (ImportExampleGen records it; 0 without spans)."""
    if "span" in artifact.properties:
        return artifact.properties["span"].int_value
    value = _prop(artifact, "span")
    return int(value) if value is not None else None


def _name(value: object, task: Task | None) -> str:
    if task is not None:
        return task.class_name(value)
    return value.decode() if isinstance(value, bytes) else str(value)


def _slice_value(k) -> object:
    which = k.WhichOneof("kind")
    return getattr(k, which) if which else ""


def read_evaluation(uri: str, summary: RunSummary, task: Task | None) -> None:
    """Fills metrics, per-class accuracy, baseline diff and the validation reason."""
    import tensorflow_model_analysis as tfma

    from pipeline.evaluation import ACCURACY

    label_key = task.label if task is not None else "label"

    for slice_metrics in tfma.load_metrics(uri):
        keys = slice_metrics.slice_key.single_slice_keys
        for kv in slice_metrics.metric_keys_and_values:
            which = kv.value.WhichOneof("type")
            if which != "double_value":
                continue
            value = kv.value.double_value.value
            if not keys:
                target = summary.baseline_diff if kv.key.is_diff else summary.metrics
                if kv.key.model_name in ("", "candidate"):
                    target[kv.key.name] = value
            elif (
                len(keys) == 1 and keys[0].column == label_key and kv.key.name == ACCURACY
                and not kv.key.is_diff and kv.key.model_name in ("", "candidate")
            ):
                summary.per_class_accuracy[_name(_slice_value(keys[0]), task)] = value
    result = tfma.load_validation_result(uri)
    if result.validation_ok:
        summary.blessing_reason = "all thresholds passed"
        return
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        where = "".join(f"[{k.column}={_name(_slice_value(k), task)}]"
                        for k in per_slice.slice_key.single_slice_keys)
        for failure in per_slice.failures:
            key = failure.metric_key
            name = key.name + where + (" change vs baseline" if key.is_diff else "")
            threshold = failure.metric_threshold
            if threshold.HasField("value_threshold"):
                bound = threshold.value_threshold
                limit = f">= {bound.lower_bound.value:g}" if bound.HasField(
                    "lower_bound") else f"<= {bound.upper_bound.value:g}"
            else:
                bound = threshold.change_threshold
                op = "<=" if bound.direction == tfma.MetricDirection.LOWER_IS_BETTER else ">="
                limit = (f"{op} {bound.absolute.value:g}" if bound.HasField("absolute")
                         else f"{op} {bound.relative.value:+.0%} of the baseline's")
            reasons.append(f"{name} = {failure.metric_value.double_value.value:.4f}, "
                           f"required {limit}")
    if result.missing_thresholds:
        reasons.append("no threshold configured (TFX's Evaluator never blesses a model "
                       "without one)")
    summary.blessing_reason = "; ".join(reasons) or "validation failed"


def read_generative_evaluation(data: dict, summary: RunSummary) -> None:
    """Fills metrics, baseline diff and the reason from the GenerativeEvaluator's metrics."""
    from components.generative_evaluator.metrics import headline

    summary.metrics = headline(data)
    if data.get("kind") == "gan":
        summary.metrics_source = "generated samples, scored by the digits classifier"
    summary.baseline_diff = dict(data.get("diff") or {})
    summary.blessing_reason = data.get("reason") or ""


def summarize(config: PipelineConfig, run_id: str) -> RunSummary:
    """Reads a finished (or failed) run's outcome from ML Metadata."""
    from components.validation_gate.anomalies import read_anomalies
    from pipeline.tasks import read_task

    summary = RunSummary(run_id)
    task = read_task(config.pipeline_root / "_runs" / run_id)
    summary.task_kind = task.kind if task is not None else ""
    outputs = run_outputs(metadata_store(config), run_id)
    summary.artifacts = {key: artifact.uri for key, artifact in sorted(outputs.items())}
    examples = example_gen_output(outputs)
    if examples is not None:
        summary.span = artifact_span(examples)
    anomalies = outputs.get("ExampleValidator.anomalies")
    if anomalies is not None:
        summary.anomalies = read_anomalies(anomalies.uri)
    blessing = outputs.get("Evaluator.blessing")
    if blessing is not None:
        summary.blessed = bool(_prop(blessing, "blessed"))
    evaluation = outputs.get("Evaluator.evaluation")
    if evaluation is not None and Path(evaluation.uri).exists():
        from components.generative_evaluator.metrics import read_metrics

        generative = read_metrics(evaluation.uri)
        if generative is not None:
            read_generative_evaluation(generative, summary)
        else:
            read_evaluation(evaluation.uri, summary, task)
    model_run = outputs.get("Trainer.model_run")
    if model_run is not None:
        from models.tasks.trainer import BASELINE_FILE

        path = Path(model_run.uri) / BASELINE_FILE
        if path.is_file():
            summary.mean_baseline = json.loads(path.read_text())
    pushed = outputs.get("Pusher.pushed_model")
    if pushed is not None:
        summary.pushed = bool(_prop(pushed, "pushed"))
        summary.pushed_version = _prop(pushed, "pushed_version") or ""
        summary.pushed_path = _prop(pushed, "pushed_destination") or ""
        summary.push_reason = _prop(pushed, "push_reason") or ""
    edge_report = outputs.get("EdgeExport.edge_report")
    if edge_report is not None:
        from components.edge_export.formats import REPORT_FILE

        path = Path(edge_report.uri) / REPORT_FILE
        if path.is_file():
            summary.edge_report = json.loads(path.read_text())
    edge_pushed = outputs.get("EdgePusher.pushed_edge_model")
    if edge_pushed is not None and _prop(edge_pushed, "pushed"):
        summary.edge_pushed_path = _prop(edge_pushed, "pushed_destination") or ""
        summary.edge_pushed_formats = _prop(edge_pushed, "pushed_formats") or ""
    return summary
