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
from types import ModuleType

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


def _edge_spec(task: ModuleType | None, facts: ReportFacts):
    """The task's declared edge spec, else the one the trained model carries (its shape may
    depend on hyperparameters, e.g. a generator's latent size)."""
    spec = getattr(task, "EDGE_SPEC", None)
    uri = facts.summary.artifacts.get("Trainer.model") if facts.summary else None
    if spec is not None or not uri:
        return spec
    from models.edge import read_edge_spec

    try:
        return read_edge_spec(Path(uri) / "Format-Serving")
    except (OSError, ValueError):
        return None


def _intended_use(task: ModuleType | None, config: PipelineConfig,
                  facts: ReportFacts) -> list[str]:
    spec = _edge_spec(task, facts)
    names = [str(n) for n in getattr(task, "CLASS_NAMES", ())]
    lines = []
    raw_keys = getattr(task, "FEATURE_KEYS", ())
    if raw_keys:
        lines.append(f"Input (REST/gRPC): the raw features {', '.join(f'`{k}`' for k in raw_keys)}"
                     f", as stored in the data; the model applies its own preprocessing.")
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
    if getattr(task, "PURPOSE", ""):
        lines.insert(0, task.PURPOSE)
    elif names:
        lines.insert(0, f"Classifies an input into one of {len(names)} classes: "
                        f"{', '.join(names)}.")
    lines.append(f"Served as model `{config.push.model_name}` over TF Serving's REST and gRPC "
                 f"APIs (see the README's serving contract); edge files (TFLite, ONNX) for "
                 f"on-device use when the edge export blessed them.")
    lines.append("Intended for inputs drawn from the same source as the training data. Not "
                 "evaluated on any other source: retrain and re-evaluate before using it on "
                 "other data (other scanners, resolutions, writers or value ranges).")
    return lines


def _data(facts: ReportFacts, config_data: dict) -> list[str]:
    ingest = config_data.get("ingest") or {}
    kind, path = ingest.get("kind"), ingest.get("path") or "(default path)"
    sources = {
        "sklearn_digits": "scikit-learn's bundled handwritten digits (1,797 8x8 images, grey "
                          "levels 0..16, labels 0..9)",
        "palmerpenguins": "the Palmer penguins from the palmerpenguins package (344 rows, "
                          "missing values kept as missing)",
        "imdb_sample": "the 100 labelled IMDB reviews bundled in the tfx package",
        "csv": f"CSV files in `{path}`",
        "image_folder": f"the image folder `{path}` (one subfolder per class)",
        "tfds": f"TFDS dataset `{ingest.get('tfds_name')}`",
    }
    source = sources.get(kind, f"tf.Example TFRecords from `{path}`")
    lines = [f"Source: {source}, hash-split into train and eval."]
    for split in facts.splits:
        lines.append(f"{split.split}: {split.num_examples} examples.")
    if facts.summary and facts.summary.anomalies:
        lines.append(f"Data validation found {len(facts.summary.anomalies)} anomalies "
                     "(see the report's Data section).")
    return lines


def _metrics(facts: ReportFacts) -> list[str]:
    from pipeline.pipeline import ACCURACY

    lines = []
    rows = {r.name: r for r in facts.metric_rows}
    count = rows.get("example_count")
    accuracy = rows.get(ACCURACY)
    if accuracy is not None:
        text = f"Eval accuracy ({ACCURACY}): {accuracy.candidate:.4f}"
        if count is not None and count.candidate > 0:
            low, high = wilson_interval(accuracy.candidate * count.candidate, count.candidate)
            text += (f" on {int(count.candidate)} examples (95% interval "
                     f"{low:.3f}..{high:.3f})")
        if accuracy.diff is not None:
            text += f"; {accuracy.diff:+.4f} against the latest blessed model"
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
    summary = facts.summary
    if summary is not None and summary.blessed is not None:
        verdict = "blessed" if summary.blessed else "NOT blessed"
        lines.append(f"Evaluator: {verdict} ({summary.blessing_reason}).")
    if summary is not None and summary.edge_report:
        for f in summary.edge_report.get("formats", []):
            if f.get("accuracy") is not None:
                lines.append(f"Edge format {f['format']}: accuracy {f['accuracy']:.4f}, "
                             f"max |diff| {f.get('max_abs_diff') or 0:.2e} vs the SavedModel"
                             f"{'' if f.get('blessed') else ' (not blessed)'}.")
    return lines or ["No evaluation in this run."]


def _limitations(facts: ReportFacts, task: ModuleType | None) -> list[str]:
    lines = ["Evaluated only on a hash split of the same source as the training data: no "
             "measurement of how it behaves on shifted data."]
    spec = getattr(task, "EDGE_SPEC", None)
    if spec is not None and spec.input_range:
        low, high = spec.input_range
        lines.append(f"Inputs are not range-checked: values outside {low:g}..{high:g} were "
                     "never seen in training and give unreliable outputs.")
    names = getattr(task, "CLASS_NAMES", ())
    if names:
        lines.append(f"Always answers with one of its {len(names)} classes: it has no "
                     "'none of these' output, so out-of-domain inputs get a confident-looking "
                     "wrong class.")
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


def build_model_card(facts: ReportFacts, config: PipelineConfig, task: ModuleType | None,
                     config_data: dict) -> ModelCard:
    """The model card of the run's model, from its report facts."""
    summary = facts.summary
    return ModelCard(
        model_name=config.push.model_name,
        version=summary.pushed_version if summary and summary.pushed else "",
        run_id=facts.run_id,
        blessed=summary.blessed if summary else None,
        intended_use=_intended_use(task, config, facts),
        data=_data(facts, config_data),
        metrics=_metrics(facts),
        limitations=_limitations(facts, task),
        caveats=_caveats(facts),
    )


def served_card_path(config: PipelineConfig, version: str) -> Path:
    """Where the card of a pushed version goes: ``<model dir>/model_cards/<version>.md``."""
    return config.serving_model_dir / CARDS_DIR / f"{version}.md"
