"""Exporting a SavedModel signature to every edge format and checking each against it.

``export_edge`` is what the TFX executor and ``dlpipe export-edge`` call. A format that
fails to convert, to run, or to pass its gate is reported as such; the others go on.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from components.edge_export import convert, runners, tflite_ops
from components.edge_export import formats as fmts
from components.edge_export.data import DataError, Dataset, conform, normal_samples
from components.edge_export.metadata import build_metadata
from components.edge_export.report import EdgeReport, FormatResult, apply_gate
from components.edge_export.signature import (
    EdgeSignature,
    SignatureError,
    load_saved_model,
    resolve_signature,
)

log = logging.getLogger(__name__)


def export_edge(
    model_dir: str | Path,
    output_dir: str | Path,
    options: fmts.ExportOptions | None = None,
    representative: Dataset | None = None,
    eval_data: Dataset | None = None,
) -> EdgeReport:
    """Converts ``model_dir`` to the requested formats, checks them, writes files and report.

    Writes into ``output_dir``: one file per produced format (``formats.FILE_NAMES``),
    ``labels.txt`` (classifiers with labels), ``metadata.json`` and ``edge_report.json``.

    Args:
      model_dir: A SavedModel directory.
      output_dir: Where to write (created).
      options: Formats, signature, gates... (default: every format, ``edge`` signature).
      representative: Calibration inputs for int8 (e.g. train split).
      eval_data: Inputs and labels for parity and accuracy (e.g. eval split). Without it
        parity is measured on the representative data or on synthetic inputs.

    Returns:
      The report; formats that failed carry ``error`` or ``gate_failures``.

    Raises:
      NotASavedModelError: ``model_dir`` holds no SavedModel (nothing can be produced).
      DataError: ``eval_data`` does not fit the signature's input.
    """
    options = options or fmts.ExportOptions()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_saved_model(model_dir)
    report = EdgeReport(model_dir=str(model_dir), signature=options.signature)
    try:
        sig = resolve_signature(loaded, model_dir, options.signature, options.edge_spec)
        shape = sig.example_shape()
    except SignatureError as e:
        # Nothing can be converted; every requested format says why.
        report.formats = [FormatResult(f, error=str(e)) for f in options.formats]
        for r in report.formats:
            apply_gate(r, options.gates(False)[r.format])
        report.write(output_dir / fmts.REPORT_FILE)
        return report

    report.task = sig.spec.task if sig.spec else ("classification" if sig.is_classifier else "")
    report.recurrent = sig.recurrent
    if sig.spec and sig.spec.needs_flex and not options.allow_flex:
        report.notes.append("the model declares needs_flex; pass allow_flex to produce Flex TFLite")
    if sig.spec is not None and sig.spec.input_source == "normal":
        # A generator's input is noise: calibrate and compare on standard normal samples.
        n = max(options.num_representative, options.num_parity)
        if representative is None:
            representative = normal_samples(shape, n, seed=0)
        if eval_data is None:
            eval_data = normal_samples(shape, n, seed=1)
    eval_data = _conform_eval(eval_data, shape)
    parity = _parity_inputs(eval_data, representative, sig, shape, options, report)
    input_dtype = np.dtype(sig.input.dtype)

    reference = runners.SavedModelRunner(loaded, sig)
    ref_parity = runners.predict(reference, parity)
    ref_accuracy = _accuracy(reference, eval_data, sig)
    ref_mae = _mae(reference, eval_data, sig, report)
    x1 = parity[:1].astype(input_dtype)
    p50, p99 = runners.latency_ms(reference, x1, options.latency_runs)
    report.reference = {"accuracy": ref_accuracy, "latency_p50_ms": p50, "latency_p99_ms": p99}
    if ref_mae is not None:
        report.reference["mae"] = ref_mae
    report.num_parity_examples = len(parity)
    report.num_eval_examples = 0 if eval_data is None else len(eval_data)

    report.output_scale = float(sig.spec.output_scale) if sig.spec else 1.0
    gates = options.gates(sig.recurrent, classifier=report.task == "classification",
                          regressor=report.task == "regression")
    for fmt in options.formats:
        result = FormatResult(fmt)
        try:
            _produce(fmt, loaded, sig, options, representative, output_dir, result)
            runner = _runner(fmt, output_dir / result.file, result)
            out = runners.predict(runner, parity)
            result.max_abs_diff = float(np.max(np.abs(out.astype(np.float64) - ref_parity)))
            result.accuracy = _accuracy(runner, eval_data, sig)
            if result.accuracy is not None and ref_accuracy is not None:
                result.accuracy_drop = ref_accuracy - result.accuracy
            result.mae = _mae(runner, eval_data, sig, report)
            if result.mae is not None and ref_mae:
                result.mae_increase = result.mae / ref_mae - 1.0
            result.latency_p50_ms, result.latency_p99_ms = runners.latency_ms(
                runner, x1, options.latency_runs
            )
            result.speedup_p50 = p50 / result.latency_p50_ms if result.latency_p50_ms else None
        except convert.FormatError as e:
            result.error = e.cause
        except Exception as e:  # noqa: BLE001 - one format's failure must not stop the others.
            log.exception("edge format %s failed", fmt)
            result.error = f"unexpected {type(e).__name__}: {_first_line(e)}"
        apply_gate(result, gates[fmt], report.output_scale)
        report.formats.append(result)

    _write_sidecars(report, sig, output_dir)
    return report


def _conform_eval(eval_data: Dataset | None, shape: tuple[int, ...]) -> Dataset | None:
    if eval_data is None:
        return None
    return Dataset(conform(eval_data.x, shape, "eval data"), eval_data.y)


def _parity_inputs(
    eval_data: Dataset | None,
    representative: Dataset | None,
    sig: EdgeSignature,
    shape: tuple[int, ...],
    options: fmts.ExportOptions,
    report: EdgeReport,
) -> np.ndarray:
    dtype = np.dtype(sig.input.dtype)
    if eval_data is not None:
        report.parity_data = "eval data"
        return eval_data.x[: options.num_parity].astype(dtype)
    if representative is not None:
        try:
            x = conform(representative.x, shape, "representative data")
            report.parity_data = "representative data (no eval data given)"
            return x[: options.num_parity].astype(dtype)
        except DataError:
            pass
    low, high = sig.spec.input_range if sig.spec and sig.spec.input_range else (0.0, 1.0)
    rng = np.random.default_rng(0)
    n = min(options.num_parity, 64)
    if np.issubdtype(dtype, np.integer):
        x = rng.integers(int(low), max(int(high), int(low) + 1), size=(n, *shape))
    else:
        x = rng.uniform(low, high, size=(n, *shape))
    report.parity_data = f"synthetic uniform inputs in [{low:g}, {high:g}] (no data given)"
    report.notes.append("no eval data: accuracy not measured; accuracy gates cannot pass")
    return x.astype(dtype)


def _accuracy(runner: Any, eval_data: Dataset | None, sig: EdgeSignature) -> float | None:
    if eval_data is None or eval_data.y is None or not sig.is_classifier:
        return None
    out = runners.predict(runner, eval_data.x.astype(np.dtype(sig.input.dtype)))
    labelled = eval_data.y >= 0  # -1: no label value (or a class the model does not know)
    if not labelled.any():
        return None
    return float(np.mean(np.argmax(out, axis=-1)[labelled] == eval_data.y[labelled]))


def _mae(runner: Any, eval_data: Dataset | None, sig: EdgeSignature, report: EdgeReport
         ) -> float | None:
    """A regressor's mean absolute error on the labelled eval data (label units)."""
    if eval_data is None or eval_data.y is None or report.task != "regression":
        return None
    x = eval_data.x.astype(np.dtype(sig.input.dtype))
    out = runners.predict(runner, x).reshape(len(eval_data.x))
    labelled = ~np.isnan(eval_data.y)  # NaN: an example without a label value
    if not labelled.any():
        return None
    return float(np.mean(np.abs(out.astype(np.float64)[labelled] - eval_data.y[labelled])))


def _produce(
    fmt: str,
    loaded: Any,
    sig: EdgeSignature,
    options: fmts.ExportOptions,
    representative: Dataset | None,
    output_dir: Path,
    result: FormatResult,
) -> None:
    if fmt == fmts.ONNX:
        data = convert.convert_onnx(loaded, sig, options)
        import onnx

        result.ops = sorted({n.op_type for n in onnx.load_from_string(data).graph.node})
    else:
        calib = None
        if fmt == fmts.INT8 and representative is not None:
            try:
                calib = conform(representative.x, sig.example_shape(), "representative data")[
                    : options.num_representative
                ]
            except DataError as e:
                raise convert.FormatError(fmt, str(e)) from e
        data = convert.convert_tflite(loaded, sig, fmt, options, calib)
        result.ops = tflite_ops.op_names(data)
        result.needs_flex = bool(tflite_ops.flex_ops(result.ops))
    result.file = fmts.FILE_NAMES[fmt]
    (output_dir / result.file).write_bytes(data)
    result.size_bytes = len(data)


def _runner(fmt: str, path: Path, result: FormatResult) -> Any:
    data = path.read_bytes()
    if fmt == fmts.ONNX:
        runner = runners.OnnxRunner(data)
        session = runner._session
        result.io = {
            "input": _onnx_io(session.get_inputs()[0]),
            "output": _onnx_io(session.get_outputs()[0]),
        }
        return runner
    try:
        runner = runners.TFLiteRunner(data)
    except Exception as e:  # noqa: BLE001 - the interpreter raises RuntimeError/ValueError.
        bad = tflite_ops.non_builtin_ops(result.ops)
        cause = f"ops {', '.join(bad)} are not in the plain runtime; " if bad else ""
        raise convert.FormatError(
            fmt, f"the LiteRT interpreter cannot run it: {cause}{_first_line(e)}"
        ) from e
    result.io = {
        "input": _tflite_io(runner.input_detail),
        "output": _tflite_io(runner.output_detail),
    }
    return runner


def _tflite_io(detail: dict[str, Any]) -> dict[str, Any]:
    scale, zero_point = detail["quantization"]
    return {
        "name": detail["name"],
        "shape": [int(d) for d in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "quantization": ({"scale": float(scale), "zero_point": int(zero_point)} if scale else None),
    }


_ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def _onnx_io(arg: Any) -> dict[str, Any]:
    return {
        "name": arg.name,
        "shape": [d if isinstance(d, int) else None for d in arg.shape],
        "dtype": _ONNX_TYPES.get(arg.type, arg.type),
        "quantization": None,
    }


def _write_sidecars(report: EdgeReport, sig: EdgeSignature, output_dir: Path) -> None:
    if sig.spec is not None and sig.spec.labels:
        (output_dir / fmts.LABELS_FILE).write_text("\n".join(sig.spec.labels) + "\n")
    vocab = Path(report.model_dir) / "assets.extra" / fmts.VOCAB_FILE
    if vocab.is_file():  # a text model's edge input is token ids: apps need the vocabulary
        shutil.copyfile(vocab, output_dir / fmts.VOCAB_FILE)
    metadata = build_metadata(report, sig, output_dir)
    (output_dir / fmts.METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    report.write(output_dir / fmts.REPORT_FILE)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]
