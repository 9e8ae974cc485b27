"""What a run report shows, as typed data: collected once, then plotted and rendered.

Everything here is plain data (numbers, strings, lists), so a report can be rendered, tested
or serialized without TensorFlow, ML Metadata or the artifacts it was read from.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.summary import RunSummary


@dataclasses.dataclass
class FeatureStats:
    """One feature's statistics in one split, from StatisticsGen.

    Attributes:
      name: Feature name (path).
      kind: ``numeric`` or ``string`` (the statistics kind TFDV computed).
      present: Examples holding the feature.
      missing: Examples lacking it.
      values_per_example: ``(min, max)`` number of values per example.
      minimum: Smallest value (numeric).
      maximum: Largest value (numeric).
      mean: Mean value (numeric).
      std: Standard deviation (numeric).
      zeros: Values equal to zero (numeric).
      unique: Distinct values (string).
      top_values: Most frequent values with their counts (string, or categorical ints).
    """

    name: str
    kind: str
    present: int = 0
    missing: int = 0
    values_per_example: tuple[int, int] = (0, 0)
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    zeros: int | None = None
    unique: int | None = None
    top_values: list[tuple[str, float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SplitStats:
    """A split's example count, per-feature statistics and label counts.

    Attributes:
      split: Split name.
      num_examples: Examples in the split (StatisticsGen's count).
      features: Per-feature statistics.
      label_counts: Examples per label, read from the split's examples (empty if unread).
    """

    split: str
    num_examples: int
    features: list[FeatureStats] = dataclasses.field(default_factory=list)
    label_counts: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Samples:
    """A few input examples with their labels, shaped for the task's kind of input.

    Attributes:
      kind: ``images`` (``images`` and ``image_shape`` set), ``texts`` (``texts`` set) or
        ``rows`` (``columns`` and ``rows`` set: a table).
      split: The split the examples come from.
      labels: One label (class name or raw value) per example.
      images: Flat pixel values per example, ``image_shape`` once reshaped.
      image_shape: Shape of one image, e.g. ``(8, 8)``.
      texts: One text per example.
      columns: Column names of ``rows``.
      rows: One row of cell texts per example.
      note: Why there are fewer samples than expected (missing features), if anything.
    """

    kind: str
    split: str
    labels: list[str] = dataclasses.field(default_factory=list)
    images: list[list[float]] = dataclasses.field(default_factory=list)
    image_shape: tuple[int, ...] = ()
    texts: list[str] = dataclasses.field(default_factory=list)
    columns: list[str] = dataclasses.field(default_factory=list)
    rows: list[list[str]] = dataclasses.field(default_factory=list)
    note: str = ""


@dataclasses.dataclass
class GeneratedSamples:
    """A generative model's output, drawn by the run's trained model.

    Attributes:
      kind: ``vae`` (inputs and their reconstructions, row by row) or ``gan`` (samples).
      images: Flat pixel values per image, ``image_shape`` once reshaped, raw units.
      labels: One title per image (``input 3``, ``reconstruction``, or the scorer's class
        and confidence of a sample).
      image_shape: Shape of one image, e.g. ``(8, 8)``.
      caption: What the grid shows.
    """

    kind: str
    images: list[list[float]] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)
    image_shape: tuple[int, ...] = ()
    caption: str = ""


@dataclasses.dataclass
class Curve:
    """One scalar logged per epoch for one split (``train`` or ``validation``)."""

    metric: str
    split: str
    epochs: list[int]
    values: list[float]


@dataclasses.dataclass
class ComponentTime:
    """One component execution of the run, from its MLMD create and last-update times."""

    node: str
    state: str
    seconds: float
    started: str


@dataclasses.dataclass
class ConfusionMatrix:
    """Counts of (actual, predicted) classes on the eval split.

    Attributes:
      labels: Class names, in class-id order (rows: actual, columns: predicted).
      counts: ``counts[actual][predicted]``.
      source: Where the counts come from (e.g. TFMA's MultiClassConfusionMatrixPlot).
    """

    labels: list[str]
    counts: list[list[float]]
    source: str

    @property
    def total(self) -> float:
        return sum(sum(row) for row in self.counts)


@dataclasses.dataclass
class ClassMetrics:
    """Per-class metrics: TFMA's per-slice accuracy and, from the confusion matrix,
    precision, recall, F1 and support."""

    label: str
    accuracy: float | None = None
    support: int | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None


@dataclasses.dataclass
class MetricRow:
    """An overall metric of the candidate, with the baseline's value and the change."""

    name: str
    candidate: float
    baseline: float | None = None
    diff: float | None = None


@dataclasses.dataclass
class Regression:
    """A regressor's predictions against the actual values of the eval split."""

    label: str
    unit: str
    actual: list[float] = dataclasses.field(default_factory=list)
    predicted: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ServedVersion:
    """A version directory in the serving root, with its push record."""

    version: int
    path: str
    pushed_at: str = ""
    pipeline_run: str = ""


@dataclasses.dataclass
class Image:
    """A rendered figure: PNG bytes, with a caption and alt text."""

    png: bytes
    alt: str
    caption: str = ""

    @property
    def data_uri(self) -> str:
        import base64

        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclasses.dataclass
class ReportFacts:
    """Everything the report shows about one run.

    Attributes:
      run_id: The pipeline run id.
      pipeline_name: The pipeline's name.
      task: The run's task kind (``task.kind``).
      resolved_task: The task the run resolved (its ``task.json``), None if it recorded none.
      generated_at: When the report was made (UTC, ISO 8601).
      status: One line: completed, stopped by anomalies, or failed at a component.
      completed: The run reached its end without a failed execution.
      config_text: The run's resolved config (its saved ``config.yaml``).
      hparams: The builder's hyperparameters and the training settings.
      summary: The run's outcome as ``dlpipe run`` prints it.
      splits: Per-split statistics.
      samples: Sample inputs with labels.
      generated: A generative model's reconstructions or samples (VAE, GAN).
      curves: Loss and metric curves per epoch.
      timings: Time per component execution.
      metric_rows: Overall metrics, with baseline values when a baseline was evaluated.
      class_metrics: Per-class metrics.
      confusion: The eval split's confusion matrix, if evaluated.
      served_versions: Versions in the serving directory.
      missing: Parts of the run that produced nothing to show, with why.
    """

    run_id: str
    pipeline_name: str
    task: str
    generated_at: str
    status: str
    completed: bool
    config_text: str = ""
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    summary: RunSummary | None = None
    splits: list[SplitStats] = dataclasses.field(default_factory=list)
    samples: Samples | None = None
    generated: GeneratedSamples | None = None
    curves: list[Curve] = dataclasses.field(default_factory=list)
    timings: list[ComponentTime] = dataclasses.field(default_factory=list)
    metric_rows: list[MetricRow] = dataclasses.field(default_factory=list)
    resolved_task: Any = None
    regression: Regression | None = None
    """Regression: predicted against actual values on the eval split (``Regression``)."""
    class_metrics: list[ClassMetrics] = dataclasses.field(default_factory=list)
    confusion: ConfusionMatrix | None = None
    served_versions: list[ServedVersion] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
