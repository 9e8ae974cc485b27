"""The model card: intended use, data, metrics, limitations and caveats of a run's model.

It is shown in the report and written as Markdown to two places:

- ``<run dir>/model_card.md`` for every run;
- ``<serving_root>/<model_name>/model_cards/<version>.md`` for the version the run pushed.
  Published version directories are never modified (servers load them); TF Serving and
  dlpipe's server ignore non-integer entries of a model's base path, so the cards live
  beside the versions. Written atomically (temp file, then rename).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from models.tasks.spec import Task
from pipeline.config import PipelineConfig
from pipeline.report.facts import ReportFacts

CARDS_DIR = "model_cards"
Z_95 = 1.96


@dataclasses.dataclass
class ModelCard:
    """A model card's facts, each section a list of sentences.

    Attributes:
      model_name: The served model's name.
      version: The version this run pushed, or "" when it pushed none.
      run_id: The run that trained and evaluated the model.
      blessed: The Evaluator's verdict (None when the run did not evaluate).
      intended_use: What the model is for, its inputs and outputs.
      data: What it was trained and evaluated on.
      metrics: What the evaluation measured.
      limitations: What the model cannot do or was not tested for.
      caveats: How to read the figures.
    """

    model_name: str
    version: str
    run_id: str
    blessed: bool | None
    intended_use: list[str]
    data: list[str]
    metrics: list[str]
    limitations: list[str]
    caveats: list[str]


def wilson_interval(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default).

    Raises:
      ValueError: if ``n`` is not positive or ``successes`` is outside ``[0, n]``.
    """
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"Expected n > 0 and 0 <= successes <= n. Received: "
                         f"successes={successes!r}, n={n!r}.")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


_PURPOSE = {
    "vae": "Encodes {shape} images into a latent code (`encode`), decodes codes into images "
           "(`decode`) and reconstructs images (`serving_default`): a variational autoencoder.",
    "gan": "Generates {shape} images from standard normal noise (`serving_default`, "
           "`generate`): a GAN generator.",
}


def _edge_spec(facts: ReportFacts):
    """The edge spec the trained model carries (``assets.extra/edge_spec.json``)."""
    uri = facts.summary.artifacts.get("Trainer.model") if facts.summary else None
    if not uri:
        return None
    from models.edge import read_edge_spec

    try:
        return read_edge_spec(Path(uri) / "Format-Serving")
    except (OSError, ValueError):
        return None


def _purpose(task: Task) -> str:
    if task.kind in _PURPOSE:
        shape = "x".join(str(d) for d in task.image_shape) if task.image_shape else "the"
        return _PURPOSE[task.kind].format(shape=shape)
    what = ("an image" if task.is_image else "a text" if task.is_text
            else f"a {task.audio_samples / task.sample_rate:g} s audio clip at "
                 f"{task.sample_rate} Hz" if task.is_audio else "a table row")
    if task.is_regression:
        unit = f" (in {task.label_unit})" if task.label_unit else ""
        return f"Predicts `{task.label}`{unit} from {what}: a regression model."
    if task.is_retrieval:
        return (f"Recommends the {task.top_k} items (`{task.item}`) of its catalogue a user "
                f"(`{task.user}`) is most likely to interact with, learned from past "
                f"interactions: a two-tower retrieval model.")
    return (f"Classifies {what} into one of {task.num_classes} classes of `{task.label}`: "
            f"{', '.join(task.classes)}.")


def _intended_use(task: Task | None, config: PipelineConfig,
                  facts: ReportFacts) -> list[str]:
    spec = _edge_spec(facts)
    lines = [_purpose(task)] if task is not None else []
    if task is not None and task.is_tabular:
        lines.append(f"Input (REST/gRPC): the raw columns "
                     f"{', '.join(f'`{k}`' for k in task.features)}, as stored in the data "
                     f"(a missing value: NaN or \"\"); the model applies its own "
                     f"preprocessing.")
    if spec is not None:
        low, high = spec.input_range if spec.input_range else (None, None)
        shape = "x".join(str(d) for d in spec.input_shape)
        value_range = f", values {low:g}..{high:g}" if low is not None else ""
        if spec.example_signature:
            lines.append(f"Edge input: `{spec.input_name}`, one {shape} array per example"
                         f"{value_range}, made from the raw input by the SavedModel's "
                         f"`{spec.example_signature}` signature ({spec.normalization}).")
        elif spec.input_source == "normal":
            lines.append(f"Input: `{spec.input_name}`, one {shape} vector of standard normal "
                         f"noise per sample.")
        else:
            lines.append(f"Input: `{spec.input_name}`, one {shape} array per example"
                         f"{value_range} (raw, as stored in the data; the model applies its "
                         f"own preprocessing).")
        lines.append(f"Output: `{spec.output_name}`: {spec.output_meaning}.")
    lines.append(f"Served as model `{config.model_name}` over TF Serving's REST and gRPC "
                 f"APIs (see the README's serving contract); edge files (TFLite, ONNX) for "
                 f"on-device use when the edge export blessed them.")
    lines.append("Intended for inputs drawn from the same source as the training data. Not "
                 "evaluated on any other source: retrain and re-evaluate before using it on "
                 "other data (other scanners, resolutions, writers or value ranges).")
    return lines


def _data(facts: ReportFacts, config_data: dict) -> list[str]:
    from pipeline.ingest.kinds import KINDS

    ingest = config_data.get("ingest") or {}
    kind = KINDS.get(ingest.get("kind"))
    fields = {"path": ingest.get("path") or "(default path)",
              "tfds_name": ingest.get("tfds_name") or ""}
    source = kind.source.format(**fields) if kind else "unknown"
    lines = [f"Source: {source}, hash-split into train and eval."]
    for split in facts.splits:
        lines.append(f"{split.split}: {split.num_examples} examples.")
    if facts.summary and facts.summary.anomalies:
        lines.append(f"Data validation found {len(facts.summary.anomalies)} anomalies "
                     "(see the report's Data section).")
    return lines


def _metrics(facts: ReportFacts, task: Task | None) -> list[str]:
    from pipeline.evaluation import ACCURACY, MAE, RECALL, RMSE

    lines = []
    rows = {r.name: r for r in facts.metric_rows}
    count = rows.get("example_count")
    accuracy = rows.get(ACCURACY)
    summary = facts.summary
    if accuracy is not None:
        text = f"Eval accuracy ({ACCURACY}): {accuracy.candidate:.4f}"
        if count is not None and count.candidate > 0:
            low, high = wilson_interval(accuracy.candidate * count.candidate, count.candidate)
            text += (f" on {int(count.candidate)} examples (95% interval "
                     f"{low:.3f}..{high:.3f})")
        if accuracy.diff is not None:
            text += f"; {accuracy.diff:+.4f} against the latest blessed model"
        lines.append(text + ".")
    elif RECALL in rows:
        recall = rows[RECALL]
        k = task.top_k if task is not None else "k"
        text = (f"Eval recall@{k}: {recall.candidate:.4f} of the held-out interactions have "
                f"their item among the user's {k} recommendations")
        if count is not None and count.candidate > 0:
            low, high = wilson_interval(recall.candidate * count.candidate, count.candidate)
            text += f" ({int(count.candidate)} interactions, 95% interval {low:.3f}..{high:.3f})"
        base = summary.mean_baseline if summary is not None else {}
        if base.get(RECALL):
            text += (f"; recommending the {k} most popular items gives {base[RECALL]:.4f} "
                     f"({recall.candidate / base[RECALL]:.2f}x)")
        if recall.diff is not None:
            text += f"; {recall.diff:+.4f} against the latest blessed model"
        lines.append(text + ".")
    elif MAE in rows:
        unit = f" {task.label_unit}" if task is not None and task.label_unit else ""
        label = f"`{task.label}`" if task is not None else "the label"
        text = (f"Eval error in {label}'s units: mean absolute error {rows[MAE].candidate:.4g}"
                f"{unit}")
        if RMSE in rows:
            text += f", root mean squared error {rows[RMSE].candidate:.4g}{unit}"
        base = summary.mean_baseline if summary is not None else {}
        if base.get(MAE):
            text += (f"; predicting the train mean gives a mean absolute error of "
                     f"{base[MAE]:.4g}{unit} ({rows[MAE].candidate / base[MAE]:.2f}x)")
        if rows[MAE].diff is not None:
            text += f"; {rows[MAE].diff:+.4g}{unit} against the latest blessed model"
        lines.append(text + ".")
    elif rows:  # e.g. a generative model's metrics
        lines.append("Eval metrics: " + ", ".join(
            f"{r.name} {r.candidate:.4g}" + (f" ({r.diff:+.4g} against the latest blessed "
                                             f"model)" if r.diff is not None else "")
            for r in facts.metric_rows) + ".")
    scored = [c for c in facts.class_metrics if c.accuracy is not None]
    if scored:
        worst = min(scored, key=lambda c: c.accuracy)
        lines.append(f"Lowest per-class accuracy: {worst.accuracy:.4f} (class {worst.label}).")
    if summary is not None and summary.blessed is not None:
        verdict = "blessed" if summary.blessed else "NOT blessed"
        lines.append(f"Evaluator: {verdict} ({summary.blessing_reason}).")
    if summary is not None and summary.edge_report:
        for f in summary.edge_report.get("formats", []):
            if f.get("accuracy") is not None:
                lines.append(f"Edge format {f['format']}: accuracy {f['accuracy']:.4f}, "
                             f"max |diff| {f.get('max_abs_diff') or 0:.2e} vs the SavedModel"
                             f"{'' if f.get('blessed') else ' (not blessed)'}.")
            elif f.get("mae") is not None:
                lines.append(f"Edge format {f['format']}: mean absolute error "
                             f"{f['mae']:.4g}, max |diff| {f.get('max_abs_diff') or 0:.2e} vs "
                             f"the SavedModel{'' if f.get('blessed') else ' (not blessed)'}.")
    return lines or ["No evaluation in this run."]


def _limitations(facts: ReportFacts, task: Task | None) -> list[str]:
    lines = ["Evaluated only on a split of the same source as the training data: no "
             "measurement of how it behaves on shifted data."]
    if task is not None and task.is_audio:
        lines.append(f"Hears only the first {task.audio_samples / task.sample_rate:g} s of a "
                     f"clip, at {task.sample_rate} Hz: longer recordings are cut, and a WAV "
                     f"file at another rate is refused by `predict_audio`.")
    spec = _edge_spec(facts)
    if spec is not None and spec.input_range and task is not None and task.is_image:
        low, high = spec.input_range
        lines.append(f"Inputs are not range-checked: values outside {low:g}..{high:g} were "
                     "never seen in training and give unreliable outputs.")
    if task is not None and task.is_classification:
        lines.append(f"Always answers with one of its {task.num_classes} classes: it has no "
                     "'none of these' output, so out-of-domain inputs get a confident-looking "
                     "wrong class.")
    if task is not None and task.is_regression:
        lines.append("Predictions outside the range of the training labels are "
                     "extrapolations the evaluation did not test.")
    if task is not None and task.is_retrieval:
        lines.append("Recommends only items of the train split (its catalogue); a user the "
                     "train split never saw gets the recommendations of an unknown user "
                     "(cold start), and new items need a new training run.")
    return lines


def _caveats(facts: ReportFacts) -> list[str]:
    lines = []
    supports = [c.support for c in facts.class_metrics if c.support]
    if supports:
        lines.append(f"Per-class figures rest on {min(supports)} to {max(supports)} examples "
                     f"per class: one example moves a class's accuracy by up to "
                     f"{1 / min(supports):.3f}.")
    lines.append("Latencies were measured at batch size 1 on the machine that ran the "
                 "pipeline, not on target devices.")
    if not facts.completed:
        lines.append(f"This run did not complete ({facts.status}): sections without data "
                     "were not produced.")
    return lines


def build_model_card(facts: ReportFacts, config: PipelineConfig, task: Task | None,
                     config_data: dict) -> ModelCard:
    """The model card of the run's model, from its report facts."""
    summary = facts.summary
    return ModelCard(
        model_name=config.model_name,
        version=summary.pushed_version if summary and summary.pushed else "",
        run_id=facts.run_id,
        blessed=summary.blessed if summary else None,
        intended_use=_intended_use(task, config, facts),
        data=_data(facts, config_data),
        metrics=_metrics(facts, task),
        limitations=_limitations(facts, task),
        caveats=_caveats(facts),
    )


def served_card_path(config: PipelineConfig, version: str) -> Path:
    """Where the card of a pushed version goes: ``<model dir>/model_cards/<version>.md``."""
    return config.serving_model_dir / CARDS_DIR / f"{version}.md"
