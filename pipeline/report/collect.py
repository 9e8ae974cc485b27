"""Gathers a run's report facts from ML Metadata and the artifacts it points to.

Each part is read on its own: a run that stopped early (anomalies, a failed component)
still gets a report of what exists, and ``ReportFacts.missing`` says what does not.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.config import PipelineConfig
from pipeline.report import evaluation, samples, statistics, training
from pipeline.report.facts import ReportFacts, ServedVersion
from pipeline.summary import RunSummary

log = logging.getLogger(__name__)
T = TypeVar("T")

SAMPLE_SPLIT = "eval"
TRAIN_KEYS = ("train_steps", "epochs", "batch_size", "learning_rate", "seed")


def run_dir(config: PipelineConfig, run_id: str) -> Path:
    """The run's directory: ``<pipeline_root>/_runs/<run_id>/``."""
    return config.pipeline_root / "_runs" / run_id


def run_config(config: PipelineConfig, run_id: str) -> tuple[str, dict[str, Any]]:
    """The run's saved config (text and data), else the given config's."""
    path = run_dir(config, run_id) / "config.yaml"
    if path.is_file():
        text = path.read_text()
        data = yaml.safe_load(text)
        if isinstance(data, dict):
            return text, data
    data = config.to_dict()
    return yaml.safe_dump(data, sort_keys=False), data


def _attempt(facts: ReportFacts, what: str, read: Callable[[], T]) -> T | None:
    """Runs one reader; a failure is noted in the report instead of stopping it."""
    try:
        return read()
    except Exception as e:  # one unreadable artifact must not cost the whole report
        log.warning("report: could not read %s", what, exc_info=True)
        facts.missing.append(f"{what}: could not be read ({type(e).__name__}: {e})")
        return None


def _status(store, run_id: str, executions: dict[str, list], summary: RunSummary,
            failed_component: str | None, error: BaseException | None) -> tuple[str, bool]:
    """One line on how the run ended, and whether it completed.

    From the caller's outcome when given (``dlpipe run``), else from what the runner
    recorded on the run's ``pipeline_run`` context and the executions' states.
    """
    from pipeline.runner import RUN_STATE_KEY, RunStopped

    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    props = context.custom_properties if context is not None else {}
    recorded = props[RUN_STATE_KEY].string_value if RUN_STATE_KEY in props else ""
    failed = failed_component or (
        props["dlpipe_failed_node"].string_value if "dlpipe_failed_node" in props else ""
    ) or next(
        (node for node, execs in executions.items()
         if any(training.EXECUTION_STATES.get(e.last_known_state) == "failed" for e in execs)),
        "")
    if isinstance(error, RunStopped) or (error is None and recorded == "stopped"):
        return "stopped on request before its end", False
    if summary.anomalies and (failed or error is not None or recorded == "failed"):
        return (f"stopped by data validation: {len(summary.anomalies)} anomalies; nothing "
                f"after the validation gate ran", False)
    if failed or error is not None or recorded == "failed":
        cause = f" ({type(error).__name__})" if error is not None else ""
        return f"failed at {failed or 'start-up'}{cause}", False
    if not executions:
        return "no executions recorded in ML Metadata for this run", False
    return "completed", True


def served_versions(config: PipelineConfig) -> list[ServedVersion]:
    """The versions in ``<serving_root>/<model_name>/`` with their push records."""
    from components.pusher.push import read_push_record, versions

    base = config.serving_model_dir
    rows = []
    for version in versions(base):
        record = read_push_record(base / str(version))
        rows.append(ServedVersion(version, str(base / str(version)),
                                  str(record.get("pushed_at", "")),
                                  str(record.get("pipeline_run", ""))))
    return rows


def collect(config: PipelineConfig, run_id: str, summary: RunSummary | None = None,
            failed_component: str | None = None, error: BaseException | None = None
            ) -> ReportFacts:
    """Reads everything the report shows about one run.

    Args:
      config: The pipeline config (locations of MLMD, artifacts and the serving root).
      run_id: The pipeline run id.
      summary: The run's summary when the caller has it (``dlpipe run``); else read here.
      failed_component: The component that failed, when the caller knows it.
      error: The run's error, when the caller knows it.

    Returns:
      The facts; parts the run did not produce are absent and listed in ``missing``.
    """
    from pipeline.summary import (
        example_gen_output,
        executions_by_node,
        metadata_store,
        run_outputs,
        summarize,
    )

    store = metadata_store(config)
    executions = executions_by_node(store, run_id)
    outputs = run_outputs(store, run_id)
    if summary is None:
        summary = summarize(config, run_id)
    config_text, config_data = run_config(config, run_id)
    from pipeline.tasks import read_task

    task = read_task(run_dir(config, run_id))
    model_data = config_data.get("model") or {}
    status, completed = _status(store, run_id, executions, summary, failed_component,
                                error)
    train = config_data.get("train") or {}
    facts = ReportFacts(
        run_id=run_id,
        pipeline_name=str(config_data.get("name") or config.name),
        task=task.kind if task is not None else str(
            (config_data.get("task") or {}).get("kind", config.task.kind)),
        generated_at=datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC"),
        status=status,
        completed=completed,
        config_text=config_text,
        hparams={"builder": model_data.get("builder") or "(the kind's default)",
                 **{k: train[k] for k in TRAIN_KEYS if k in train},
                 **{f"hparams.{k}": v for k, v in (model_data.get("hparams") or {}).items()}},
        summary=summary,
        timings=training.component_times(executions),
    )
    facts.resolved_task = task
    if task is None:
        facts.missing.append("the run's task: the run recorded no task.json (it stopped "
                             "before the input was checked)")

    stats = outputs.get("StatisticsGen.statistics")
    if stats is not None:
        facts.splits = _attempt(facts, "StatisticsGen statistics",
                                lambda: statistics.read_statistics(stats.uri)) or []
    else:
        facts.missing.append("data statistics: StatisticsGen did not run")

    examples = example_gen_output(outputs)
    if examples is not None and task is not None:
        _read_examples(facts, examples.uri, task)
    elif examples is None:
        facts.missing.append("sample inputs: ExampleGen produced no examples")

    model_run = outputs.get("Trainer.model_run")
    if model_run is not None:
        facts.curves = _attempt(facts, "TensorBoard logs",
                                lambda: training.read_curves(model_run.uri)) or []
    else:
        facts.missing.append("training curves: the Trainer did not run")

    evaluated = outputs.get("Evaluator.evaluation")
    generative = (evaluation.generative_metrics(evaluated.uri)
                  if evaluated is not None and Path(evaluated.uri).exists() else None)
    if generative is not None:  # the GenerativeEvaluator's: no TFMA metrics, no classes
        facts.metric_rows = evaluation.generative_metric_rows(generative)
    elif evaluated is not None and Path(evaluated.uri).exists():
        facts.metric_rows = _attempt(facts, "TFMA metrics",
                                     lambda: evaluation.metric_rows(evaluated.uri)) or []
        if task is not None and task.is_classification:
            facts.confusion = _attempt(
                facts, "TFMA confusion matrix",
                lambda: evaluation.confusion_matrix(evaluated.uri, task))
        if facts.confusion is None and task is not None and task.is_classification:
            facts.missing.append("confusion matrix: no MultiClassConfusionMatrixPlot in the "
                                 "evaluation")
    else:
        facts.missing.append("evaluation: the Evaluator did not run")
    model = outputs.get("Trainer.model")
    if (task is not None and task.is_regression and model is not None
            and examples is not None):
        facts.regression = _attempt(facts, "predictions on the eval split",
                                    lambda: evaluation.regression_points(
                                        Path(model.uri) / "Format-Serving", examples.uri, task))
    if generative is not None and model is not None and task is not None:
        facts.generated = _attempt(facts, "generated samples", lambda: samples.generated_samples(
            Path(model.uri) / "Format-Serving", task, generative, facts.samples))
    facts.class_metrics = evaluation.class_metrics(summary.per_class_accuracy, facts.confusion)
    facts.served_versions = _attempt(facts, "serving directory",
                                     lambda: served_versions(config)) or []
    return facts


def _read_examples(facts: ReportFacts, uri: str, task) -> None:
    for split in facts.splits:
        counts = _attempt(facts, f"labels of the {split.split} split",
                          lambda s=split.split: samples.label_counts(uri, s, task))
        split.label_counts = counts or {}
        label = next((f for f in split.features if f.name == task.label), None)
        if label is not None and not label.top_values and split.label_counts:
            top = sorted(split.label_counts.items(), key=lambda kv: -kv[1])
            label.top_values = [(k, float(v)) for k, v in top[: statistics.TOP_VALUES]]
    names = [s.split for s in facts.splits]
    split = SAMPLE_SPLIT if SAMPLE_SPLIT in names or not names else names[0]
    facts.samples = _attempt(facts, "sample inputs",
                             lambda: samples.read_samples(uri, split, task))
