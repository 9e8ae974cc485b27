"""The edge report: per format size, parity, metric, latency, gate verdict; JSON and a table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from components.edge_export.formats import Gate


@dataclasses.dataclass
class FormatResult:
    """What one format measured and whether it passed its gate.

    Attributes:
      format: Format name.
      file: File name inside the edge models directory (None if not produced).
      size_bytes: File size.
      max_abs_diff: Max absolute output difference from the SavedModel on the parity set.
      accuracy: Accuracy on the eval split (classifiers with labels).
      accuracy_drop: SavedModel accuracy minus this accuracy (fraction; negative = better).
      mae: Regressors: mean absolute error on the eval split (label units).
      mae_increase: This MAE over the SavedModel's, minus 1 (fraction; negative = better).
      latency_p50_ms: Batch-1 median latency.
      latency_p99_ms: Batch-1 99th percentile latency.
      speedup_p50: SavedModel p50 latency divided by this format's p50 latency.
      ops: Operator names (TFLite: builtin enum names; ONNX: op types).
      needs_flex: The file holds Flex (TF) ops: the plain TFLite runtime cannot run it.
      io: Input and output tensor details (name, shape, dtype, quantization).
      gate: The gate, as text.
      gate_failures: Why the gate failed, with the margin.
      error: Why the format could not be produced or checked (names the format's cause).
      blessed: Produced, checked and passed its gate.
      size_ratio: Size over the float32 file's (when both were produced).
      tflite_metadata: The TFLite metadata written into the file (writer, which Task
        Library API can load it, the image normalization), see ``tflite_metadata.Embedded``.
    """

    format: str
    file: str | None = None
    size_bytes: int | None = None
    max_abs_diff: float | None = None
    accuracy: float | None = None
    accuracy_drop: float | None = None
    mae: float | None = None
    mae_increase: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    speedup_p50: float | None = None
    ops: list[str] = dataclasses.field(default_factory=list)
    needs_flex: bool = False
    io: dict[str, Any] = dataclasses.field(default_factory=dict)
    gate: str = ""
    gate_failures: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    blessed: bool = False
    size_ratio: float | None = None
    tflite_metadata: dict[str, Any] | None = None


@dataclasses.dataclass
class EdgeReport:
    """The edge report of one SavedModel.

    Attributes:
      model_dir: The SavedModel converted.
      signature: Its signature converted.
      task: Declared task (``classification`` enables accuracy).
      recurrent: Declared recurrent (looser parity gates).
      output_scale: The edge spec's output scale: parity gates are relative to it.
      model_blessed: False when the pipeline's ModelBlessing said no (nothing converted).
      reference: The SavedModel's own accuracy and batch-1 latency, measured in this run.
      num_parity_examples: Examples the max abs difference is measured on.
      num_eval_examples: Examples the accuracy is measured on.
      parity_data: Where the parity inputs came from.
      formats: One result per requested format.
      notes: Anything else a reader should know.
      error: A cause that stopped every format (e.g. no usable signature), said once.
    """

    model_dir: str
    signature: str = ""
    task: str = ""
    recurrent: bool = False
    output_scale: float = 1.0
    model_blessed: bool = True
    reference: dict[str, Any] = dataclasses.field(default_factory=dict)
    num_parity_examples: int = 0
    num_eval_examples: int = 0
    parity_data: str = ""
    formats: list[FormatResult] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    @property
    def blessed_formats(self) -> list[str]:
        return [r.format for r in self.formats if r.blessed]

    @property
    def needs_flex(self) -> bool:
        return any(r.needs_flex for r in self.formats if r.file)

    def result(self, fmt: str) -> FormatResult:
        """The result of format ``fmt``."""
        for r in self.formats:
            if r.format == fmt:
                return r
        raise KeyError(f"No result for format {fmt!r}; the report has {self.format_names}.")

    @property
    def format_names(self) -> list[str]:
        return [r.format for r in self.formats]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["blessed_formats"] = self.blessed_formats
        data["needs_flex"] = self.needs_flex
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EdgeReport:
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["formats"] = [FormatResult(**r) for r in data.get("formats", [])]
        return cls(**kwargs)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> EdgeReport:
        return cls.from_dict(json.loads(Path(path).read_text()))


def apply_gate(result: FormatResult, gate: Gate, scale: float = 1.0) -> None:
    """Decides ``result.blessed`` from its measurements and ``gate``; records why it failed.

    ``max_abs`` is compared with ``max_abs_diff / scale`` (a regressor's label scale)."""
    result.gate = gate.describe()
    result.gate_failures = []
    if result.error is not None:
        result.blessed = False
        return
    verdicts: list[bool] = []
    failures: list[str] = []
    if gate.max_abs is not None:
        if result.max_abs_diff is None:
            failures.append("max_abs not measured")
        else:
            relative = result.max_abs_diff / scale
            ok = relative <= gate.max_abs
            verdicts.append(ok)
            if not ok:
                unit = f" (max|diff| / output scale {scale:g})" if scale != 1.0 else ""
                failures.append(
                    f"max_abs {relative:.3g} > {gate.max_abs:g}{unit} "
                    f"(by {relative - gate.max_abs:.3g})"
                )
    if gate.max_accuracy_drop is not None:
        if result.accuracy_drop is None:
            failures.append("accuracy gate not measurable (no labelled eval data)")
        else:
            ok = result.accuracy_drop <= gate.max_accuracy_drop + 1e-12
            verdicts.append(ok)
            if not ok:
                failures.append(
                    f"accuracy drop {100 * result.accuracy_drop:.2f} pt > "
                    f"{100 * gate.max_accuracy_drop:g} pt "
                    f"(by {100 * (result.accuracy_drop - gate.max_accuracy_drop):.2f} pt)"
                )
    if gate.max_error_increase is not None:
        if result.mae_increase is None:
            failures.append("error gate not measurable (no labelled eval data)")
        else:
            ok = result.mae_increase <= gate.max_error_increase + 1e-12
            verdicts.append(ok)
            if not ok:
                failures.append(
                    f"MAE increase {100 * result.mae_increase:.2f}% > "
                    f"{100 * gate.max_error_increase:g}%")
    configured = ((gate.max_abs is not None) + (gate.max_accuracy_drop is not None)
                  + (gate.max_error_increase is not None))
    if gate.any_of:
        passed = any(verdicts)
    else:
        # Every configured check must be measured and pass.
        passed = len(verdicts) == configured and all(verdicts)
    result.blessed = passed
    result.gate_failures = [] if passed else failures


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(report: EdgeReport) -> str:
    """The report as a readable table, then one line per failure."""
    ref = report.reference
    regression = report.task == "regression"
    metric, ref_metric = ("MAE", ref.get("mae")) if regression else ("accuracy",
                                                                     ref.get("accuracy"))
    spec = ".4g" if regression else ".4f"
    header = (
        f"{'format':<14}{'size KB':>9}{'x f32':>7}{'max|diff|':>11}{metric:>10}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'speedup':>9}  {'blessed':<8}gate"
    )
    lines = [
        f"Edge report: {report.model_dir} (signature {report.signature!r}, "
        f"{report.num_parity_examples} parity / {report.num_eval_examples} eval examples"
        f"{', ' + report.parity_data if report.parity_data else ''})",
        header,
        "-" * len(header),
        f"{'savedmodel':<14}{'-':>9}{'-':>7}{'-':>11}{_fmt(ref_metric, spec):>10}"
        f"{_fmt(ref.get('latency_p50_ms'), '.3f'):>9}{_fmt(ref.get('latency_p99_ms'), '.3f'):>9}"
        f"{'1.0x':>9}  {'(ref)':<8}",
    ]
    for r in report.formats:
        size = None if r.size_bytes is None else r.size_bytes / 1024
        speed = "-" if r.speedup_p50 is None else f"{r.speedup_p50:.1f}x"
        verdict = "yes" if r.blessed else ("ERROR" if r.error else "NO")
        lines.append(
            f"{r.format:<14}{_fmt(size, '.1f'):>9}{_fmt(r.size_ratio, '.2f'):>7}"
            f"{_fmt(r.max_abs_diff, '.2e'):>11}"
            f"{_fmt(r.mae if regression else r.accuracy, spec):>10}"
            f"{_fmt(r.latency_p50_ms, '.3f'):>9}"
            f"{_fmt(r.latency_p99_ms, '.3f'):>9}{speed:>9}  {verdict:<8}{r.gate}"
        )
    if report.error:
        lines.append(f"  error (every format): {report.error}")
    by_cause: dict[str, list[str]] = {}
    for r in report.formats:
        if r.error and not report.error:
            by_cause.setdefault(r.error, []).append(r.format)
    for cause, names in by_cause.items():
        lines.append(f"  {', '.join(names)}: error: {cause}")
    for r in report.formats:
        if not r.error and r.gate_failures:
            lines.append(f"  {r.format}: not blessed: {'; '.join(r.gate_failures)}")
        if r.needs_flex:
            flex = [op for op in r.ops if op.startswith("Flex")]
            lines.append(f"  {r.format}: needs the Flex delegate for {', '.join(flex)}")
    lines.extend(f"  note: {n}" for n in report.notes)
    return "\n".join(lines)
