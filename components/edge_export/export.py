"""Exporting a SavedModel signature to every edge format and checking each against it.

``export_edge`` is what the TFX executor and ``dlpipe export-edge`` call. A format that
fails to convert, to run, or to pass its gate is reported as such; the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from components.edge_export import convert, runners, tflite_metadata, tflite_ops
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
from dlpipe.contract import EDGE_SIGNATURE, SERVING_SIGNATURE

log = logging.getLogger(__name__)


def export_edge(
    model_dir: str | Path,
    output_dir: str | Path,
    options: fmts.ExportOptions | None = None,
    representative: Dataset | None = None,
    eval_data: Dataset | None = None,
) -> EdgeReport:
    """Converts ``model_dir`` to the requested formats, checks them, writes files and report.

    Writes into ``output_dir``: one file per produced format (``formats.FILE_NAMES``; each
    .tflite with TFLite metadata inside, see ``tflite_metadata``), ``labels.txt``
    (classifiers with labels), ``metadata.json`` and ``edge_report.json``; nothing at all
    (not even the directory) when no format could be produced. Without an ``edge``
    signature the default converts ``serving_default`` (the report's notes say so).

    Args:
      model_dir: A SavedModel directory.
      output_dir: Where to write (created).
      options: Formats, signature, gates... (default: every format, ``edge`` signature).
      representative: Calibration inputs for int8 (e.g. train split).
      eval_data: Inputs and labels for parity and accuracy (e.g. eval split). Without it
        parity is measured on the representative data or on synthetic inputs.

    Returns:
      The report; formats that failed carry ``error`` or ``gate_failures``; a cause that
      stops every format (e.g. the signature) is the report's ``error``.

    Raises:
      NotASavedModelError: ``model_dir`` holds no SavedModel (nothing can be produced).
      DataError: ``eval_data`` does not fit the signature's input.
    """
    options = options or fmts.ExportOptions()
    output_dir = Path(output_dir)
    loaded = load_saved_model(model_dir)
    report = EdgeReport(model_dir=str(model_dir), signature=options.signature)
    try:
        sig = _resolve(loaded, model_dir, options, report, eval_data)
        shape = sig.example_shape()
    except SignatureError as e:
        # Nothing can be converted: one error, said once; nothing is written.
        report.error = str(e)
        report.formats = [FormatResult(f, error="not converted: see the report's error")
                          for f in options.formats]
        for r in report.formats:
            apply_gate(r, options.gates(False)[r.format])
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
    if representative is None and eval_data is not None and fmts.INT8 in options.formats:
        representative = Dataset(eval_data.x)
        report.notes.append("int8 calibrated on the eval data (no representative data given)")
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
    info = tflite_metadata.ModelInfo(
        name=options.model_name or default_model_name(model_dir),
        version=options.model_version, author=options.author, license=options.license)
    with tempfile.TemporaryDirectory(prefix=".edge-", dir=_staging_parent(output_dir)) as tmp:
        staging = Path(tmp)
        for fmt in options.formats:
            result = FormatResult(fmt)
            try:
                _produce(fmt, loaded, sig, options, representative, staging, result, info,
                         model_dir, report.notes)
                runner = _runner(fmt, staging / result.file, result, sig)
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
                result.speedup_p50 = (p50 / result.latency_p50_ms if result.latency_p50_ms
                                      else None)
            except convert.FormatError as e:
                result.error = e.cause
            except Exception as e:  # noqa: BLE001 - one format's failure must not stop others.
                log.exception("edge format %s failed", fmt)
                result.error = f"unexpected {type(e).__name__}: {_first_line(e)}"
            apply_gate(result, gates[fmt], report.output_scale)
            report.formats.append(result)
        _size_ratios(report)
        if not any(r.file for r in report.formats):
            return report  # every format failed: nothing is written
        _write_sidecars(report, sig, staging)
        output_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(staging.iterdir()):
            shutil.move(str(path), output_dir / path.name)
    return report


def default_model_name(model_dir: str | Path) -> str:
    """The name in the metadata when none is given: the SavedModel directory's, or its
    parent's for a version (``models/digits/3``) or TFX (``Format-Serving``) directory."""
    path = Path(model_dir).resolve()
    if (path.name.isdigit() or path.name == "Format-Serving") and path.parent.name:
        return path.parent.name
    return path.name or "model"


def _staging_parent(output_dir: Path) -> Path:
    """An existing directory beside ``output_dir`` (same filesystem: files move, not copy)."""
    parent = output_dir.resolve().parent
    while not parent.is_dir():
        parent = parent.parent
    return parent


def _resolve(loaded: Any, model_dir: str | Path, options: fmts.ExportOptions,
             report: EdgeReport, eval_data: Dataset | None) -> EdgeSignature:
    """The signature to convert: ``options.signature``, else ``serving_default`` when the
    default ``edge`` is missing (said once in the notes), with a spec made from the options'
    labels and input range when the model declares none."""
    key = options.signature
    if key == EDGE_SIGNATURE and key not in loaded.signatures and (
            SERVING_SIGNATURE in loaded.signatures):
        key = SERVING_SIGNATURE
        report.signature = key
        report.notes.append(f"the SavedModel has no '{EDGE_SIGNATURE}' signature: converted "
                            f"'{SERVING_SIGNATURE}'")
    sig = resolve_signature(loaded, model_dir, key, options.edge_spec)
    if sig.spec is None:
        spec = spec_from_options(sig, options, eval_data)
        if spec is not None:
            sig = dataclasses.replace(sig, spec=spec)
    if options.rgb_input:
        shape = sig.example_shape()
        if len(shape) != 3 or shape[-1] != 1:
            raise SignatureError(f"rgb_input needs a grey image input [H, W, 1]; input "
                                 f"{sig.input.name!r} has shape {list(shape)}")
        sig = dataclasses.replace(sig, rgb_from_grey=True)
    return sig


def spec_from_options(sig: EdgeSignature, options: fmts.ExportOptions,
                      eval_data: Dataset | None) -> Any:
    """An edge spec for a SavedModel that declares none, from the options' labels and input
    range; a classifier also when the eval data has integer labels and the output one score
    per class. None when there is nothing to declare."""
    from models.edge import EdgeSpec

    out_shape = sig.output.shape or ()
    per_class = len(out_shape) == 2 and (out_shape[-1] or 0) > 1
    labelled = (eval_data is not None and eval_data.y is not None
                and np.issubdtype(eval_data.y.dtype, np.integer))
    labels = tuple(options.labels)
    if not labels and labelled and per_class:
        labels = tuple(str(i) for i in range(int(out_shape[-1])))
    if not labels and options.input_range is None:
        return None
    if labels and per_class and len(labels) != out_shape[-1]:
        raise SignatureError(f"{len(labels)} labels given, but output {sig.output.name!r} "
                             f"has {out_shape[-1]} scores per example")
    low_high = options.input_range
    normalization = (f"raw values {low_high[0]:g}..{low_high[1]:g}, as the SavedModel "
                     f"signature '{sig.key}' takes them" if low_high else "")
    return EdgeSpec(
        input_name=sig.input.name, input_shape=sig.example_shape(),
        input_dtype=sig.input.dtype, output_name=sig.output.name,
        task="classification" if labels else "regression", labels=labels,
        input_range=low_high, normalization=normalization,
        output_meaning=("score of each class, in labels.txt order" if labels else ""))


def _size_ratios(report: EdgeReport) -> None:
    base = next((r.size_bytes for r in report.formats
                 if r.format == fmts.FLOAT32 and r.size_bytes), None)
    for r in report.formats:
        if base and r.size_bytes:
            r.size_ratio = r.size_bytes / base


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
    info: tflite_metadata.ModelInfo,
    model_dir: str | Path,
    notes: list[str],
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
        data = convert.convert_tflite(loaded, sig, fmt, options,
                                      None if calib is None else sig.file_inputs(calib))
        result.ops = tflite_ops.op_names(data)
        result.needs_flex = bool(tflite_ops.flex_ops(result.ops))
        io = _tflite_io_of(fmt, data, result)
        try:
            data, embedded = tflite_metadata.embed(data, sig, io, info, model_dir)
            result.tflite_metadata = embedded.to_dict()
        except tflite_metadata.WritersUnavailable as e:
            # The model is as good without it: keep the file, say what is missing (the side
            # files metadata.json and labels.txt still describe it).
            note = f"TFLite metadata not embedded: {e}"
            if note not in notes:
                notes.append(note)
        except tflite_metadata.MetadataError as e:
            raise convert.FormatError(fmt, f"TFLite metadata: {e}") from e
    result.file = fmts.FILE_NAMES[fmt]
    (output_dir / result.file).write_bytes(data)
    result.size_bytes = len(data)


def _runner(fmt: str, path: Path, result: FormatResult, sig: EdgeSignature) -> Any:
    data = path.read_bytes()
    if fmt == fmts.ONNX:
        runner = runners.OnnxRunner(data)
        session = runner._session
        result.io = {
            "input": _onnx_io(session.get_inputs()[0]),
            "output": _onnx_io(session.get_outputs()[0]),
        }
        return runners.Adapted(runner, sig.file_inputs)
    runner = _tflite_runner(fmt, data, result)
    result.io = {
        "input": _tflite_io(runner.input_detail),
        "output": _tflite_io(runner.output_detail),
    }
    return runners.Adapted(runner, sig.file_inputs)


def _tflite_runner(fmt: str, data: bytes, result: FormatResult) -> runners.TFLiteRunner:
    try:
        return runners.TFLiteRunner(data)
    except Exception as e:  # noqa: BLE001 - the interpreter raises RuntimeError/ValueError.
        bad = tflite_ops.non_builtin_ops(result.ops)
        cause = f"ops {', '.join(bad)} are not in the plain runtime; " if bad else ""
        raise convert.FormatError(
            fmt, f"the LiteRT interpreter cannot run it: {cause}{_first_line(e)}"
        ) from e


def _tflite_io_of(fmt: str, data: bytes, result: FormatResult) -> dict[str, Any]:
    runner = _tflite_runner(fmt, data, result)
    return {"input": _tflite_io(runner.input_detail), "output": _tflite_io(runner.output_detail)}


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
    for name in (fmts.VOCAB_FILE, fmts.USERS_FILE):
        # Edge inputs that are indices (a text model's token ids, a retrieval model's user
        # index): apps need the vocabulary that maps ids to them.
        vocab = Path(report.model_dir) / "assets.extra" / name
        if vocab.is_file():
            shutil.copyfile(vocab, output_dir / name)
    metadata = build_metadata(report, sig, output_dir)
    (output_dir / fmts.METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    report.write(output_dir / fmts.REPORT_FILE)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]
