"""Run history read from ML Metadata: one record per pipeline run, and per-component detail.

Every fact comes from MLMD (the ``pipeline_run`` contexts, their executions and output
artifacts) or from the artifacts MLMD points to (the Evaluator's metrics). The runner marks
each run's context with how it ended (``dlpipe_state``: complete, failed, stopped, died) and
when. A run without that mark is ``running`` if it holds the pipeline root's run lock, else
it ``died``: its process ended (killed, out of memory, a restart) before it could record how;
the next run marks it so for good.
"""

from __future__ import annotations

import dataclasses
import datetime

from pipeline.config import PipelineConfig
from pipeline.run_state import (
    DIED,
    ENDED_MS_KEY,
    FAILED_NODE_KEY,
    RUN_STATE_KEY,
    STARTED_MS_KEY,
    lock_holder,
)
from pipeline.summary import (
    _prop,
    artifact_span,
    example_gen_output,
    executions_by_node,
    run_outputs,
)

_EXECUTION_STATES = {0: "unknown", 1: "new", 2: "running", 3: "executed", 4: "failed",
                     5: "cached", 6: "canceled"}


@dataclasses.dataclass
class RunRecord:
    run_id: str
    started: datetime.datetime | None
    seconds: float | None
    state: str
    span: int | None = None
    blessed: bool | None = None
    pushed_version: str = ""
    accuracy: float | None = None
    failed_node: str = ""


@dataclasses.dataclass
class ComponentRecord:
    node: str
    state: str
    execution_id: int
    started: datetime.datetime
    seconds: float
    outputs: dict[str, str]  # output key -> artifact URI


def _time(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000).astimezone()


def run_contexts(store, pipeline_name: str) -> list:
    """The pipeline's ``pipeline_run`` contexts (a shared store holds other pipelines too)."""
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is None:
        return []
    ours = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
    runs = []
    for ctx in store.get_contexts_by_type("pipeline_run"):
        executions = store.get_executions_by_context(ctx.id)
        if any(e.id in ours for e in executions):
            runs.append((ctx, executions))
    return runs


def _headline_accuracy(evaluation_uri: str) -> float | None:
    import tensorflow_model_analysis as tfma

    from pipeline.evaluation import ACCURACY

    try:
        for slice_metrics in tfma.load_metrics(evaluation_uri):
            if slice_metrics.slice_key.single_slice_keys:
                continue
            for kv in slice_metrics.metric_keys_and_values:
                if (kv.key.name == ACCURACY and not kv.key.is_diff
                        and kv.key.model_name in ("", "candidate")):
                    return kv.value.double_value.value
    except Exception:  # a missing or unreadable evaluation: no headline, not an error
        return None
    return None


def list_runs(config: PipelineConfig, store) -> list[RunRecord]:
    """Every run of ``config.name`` in the store, oldest first."""
    records = []
    live = lock_holder(config.pipeline_root)
    for ctx, executions in run_contexts(store, config.name):
        props = ctx.custom_properties
        if STARTED_MS_KEY in props:
            started = int(props[STARTED_MS_KEY].double_value)
            ended = int(props[ENDED_MS_KEY].double_value)
        else:
            started = min(e.create_time_since_epoch for e in executions)
            ended = max(e.last_update_time_since_epoch for e in executions)
        if RUN_STATE_KEY in props:
            state = props[RUN_STATE_KEY].string_value
        else:
            state = "running" if live is not None and live.run_id == ctx.name else DIED
        record = RunRecord(
            run_id=ctx.name, started=_time(started), seconds=(ended - started) / 1000,
            state=state,
            failed_node=props[FAILED_NODE_KEY].string_value if FAILED_NODE_KEY in props else "",
        )
        outputs = run_outputs(store, ctx.name)
        examples = example_gen_output(outputs)
        if examples is not None:
            record.span = artifact_span(examples)
        blessing = outputs.get("Evaluator.blessing")
        if blessing is not None:
            record.blessed = bool(_prop(blessing, "blessed"))
        pushed = outputs.get("Pusher.pushed_model")
        if pushed is not None and _prop(pushed, "pushed"):
            record.pushed_version = str(_prop(pushed, "pushed_version") or "")
        evaluation = outputs.get("Evaluator.evaluation")
        if evaluation is not None:
            record.accuracy = _headline_accuracy(evaluation.uri)
        records.append(record)
    return sorted(records, key=lambda r: (r.started or _time(0), r.run_id))


def components(store, run_id: str) -> list[ComponentRecord]:
    """The run's components in the order they started, with their output artifact paths."""
    outputs = run_outputs(store, run_id)
    rows = []
    for node, executions in executions_by_node(store, run_id).items():
        for e in executions:
            rows.append(ComponentRecord(
                node=node,
                state=_EXECUTION_STATES.get(e.last_known_state, str(e.last_known_state)),
                execution_id=e.id,
                started=_time(e.create_time_since_epoch),
                seconds=(e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000,
                outputs={key.partition(".")[2]: a.uri for key, a in outputs.items()
                         if key.partition(".")[0] == node},
            ))
    return sorted(rows, key=lambda r: (r.started, r.execution_id))


def format_runs(records: list[RunRecord]) -> str:
    """A table: id, start, duration, state, span, blessed, pushed version, accuracy."""
    header = ("run id", "started", "took", "state", "span", "blessed", "pushed", "accuracy")
    rows = [header]
    for r in records:
        state = f"{r.state} ({r.failed_node})" if r.failed_node else r.state
        rows.append((
            r.run_id,
            r.started.strftime("%Y-%m-%d %H:%M:%S") if r.started else "-",
            f"{r.seconds:.0f} s" if r.seconds is not None else "-",
            state,
            "-" if r.span is None else str(r.span),
            "-" if r.blessed is None else ("yes" if r.blessed else "no"),
            f"v{r.pushed_version}" if r.pushed_version else "-",
            "-" if r.accuracy is None else f"{r.accuracy:.4f}",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip()
                     for row in rows)
