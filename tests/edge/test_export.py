"""Round trips and gates of the digits CNN's edge formats (style rule 7)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.edge_export import formats
from tests.edge.conftest import saved_model_outputs

# Stated tolerance of each reloaded file against the SavedModel's `edge` signature, on
# probabilities. Exact formats: the gate. Quantized ones: loose bounds; their real
# gate is accuracy (checked below).
TOLERANCE = {
    formats.FLOAT32: 1e-5,
    formats.ONNX: 1e-5,
    formats.FLOAT16: 1e-2,
    formats.DYNAMIC_RANGE: 5e-2,
    formats.INT8: 1e-1,
}


def run_tflite(path, x: np.ndarray) -> np.ndarray:
    """Runs a .tflite file one example at a time with the plain LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outputs = []
    for example in x:
        batch = example[None]
        scale, zero = inp["quantization"]
        if inp["dtype"] != np.float32:
            batch = np.clip(np.round(batch / scale + zero), -128, 255).astype(inp["dtype"])
        interp.set_tensor(inp["index"], batch)
        interp.invoke()
        y = interp.get_tensor(out["index"]).astype(np.float32)
        scale, zero = out["quantization"]
        if out["dtype"] != np.float32:
            y = (y - zero) * scale
        outputs.append(y[0])
    return np.stack(outputs)


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_round_trip_matches_saved_model(cnn_export, cnn_saved_model, digits, fmt):
    report, out = cnn_export
    result = report.result(fmt)
    assert result.error is None, result.error
    x = digits["x_eval"][:100]
    path = out / formats.FILE_NAMES[fmt]
    got = run_onnx(path, x) if fmt == formats.ONNX else run_tflite(path, x)
    want = saved_model_outputs(cnn_saved_model, x)
    assert got.shape == want.shape == (100, 10)
    assert np.max(np.abs(got - want)) <= TOLERANCE[fmt]


def test_every_format_blessed_with_default_gates(cnn_export):
    report, _ = cnn_export
    assert report.blessed_formats == list(formats.FORMATS), [
        (r.format, r.error, r.gate_failures) for r in report.formats
    ]
    assert report.reference["accuracy"] >= 0.9
    for r in report.formats:
        assert r.size_bytes > 0 and r.latency_p50_ms > 0 and not r.needs_flex


def test_int8_accuracy_on_held_out_digits_within_gate(cnn_export, digits):
    report, out = cnn_export
    probabilities = run_tflite(out / formats.FILE_NAMES[formats.INT8], digits["x_eval"])
    accuracy = float(np.mean(probabilities.argmax(-1) == digits["y_eval"]))
    assert accuracy == pytest.approx(report.result(formats.INT8).accuracy)
    assert report.reference["accuracy"] - accuracy <= 0.01
    assert report.result(formats.INT8).size_bytes <= 0.4 * report.result("float32").size_bytes


def test_int8_with_int8_io_fed_as_metadata_says(tmp_path, cnn_saved_model, digits):
    """An app quantizes raw pixels with metadata.json's scale and zero point."""
    from ai_edge_litert.interpreter import Interpreter

    from components.edge_export.data import Dataset
    from components.edge_export.export import export_edge

    report = export_edge(
        cnn_saved_model,
        tmp_path,
        formats.ExportOptions(formats=("int8",), int8_io="int8", latency_runs=5),
        representative=Dataset(digits["x_train"]),
        eval_data=Dataset(digits["x_eval"], digits["y_eval"]),
    )
    assert report.blessed_formats == ["int8"], report.result("int8").gate_failures
    meta = json.loads((tmp_path / "metadata.json").read_text())["formats"]["int8"]
    assert meta["input"]["dtype"] == "int8" and meta["output"]["dtype"] == "int8"
    q_in, q_out = meta["input"]["quantization"], meta["output"]["quantization"]
    interp = Interpreter(model_path=str(tmp_path / meta["file"]))
    interp.allocate_tensors()
    correct = 0
    for image, label in zip(digits["x_eval"], digits["y_eval"], strict=True):
        q = np.round(image / q_in["scale"] + q_in["zero_point"])
        interp.set_tensor(interp.get_input_details()[0]["index"], q.astype(np.int8)[None])
        interp.invoke()
        raw = interp.get_tensor(interp.get_output_details()[0]["index"])[0]
        probabilities = (raw.astype(np.float32) - q_out["zero_point"]) * q_out["scale"]
        correct += int(probabilities.argmax() == label)
    assert report.reference["accuracy"] - correct / len(digits["y_eval"]) <= 0.01


def test_metadata_and_labels_describe_the_files(cnn_export):
    _, out = cnn_export
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["input"] == {
        "name": "image",
        "shape": [None, 8, 8, 1],
        "dtype": "float32",
        "range": [0.0, 16.0],
        "normalization": "raw grey levels 0..16; the model divides by 16 inside the graph",
    }
    assert meta["output"]["labels_file"] == "labels.txt"
    assert meta["needs_flex"] is False
    assert set(meta["formats"]) == set(formats.FORMATS)
    assert meta["formats"]["float32"]["input"]["shape"] == [1, 8, 8, 1]
    assert meta["formats"]["int8"]["ops"] and "Flex" not in "".join(meta["formats"]["int8"]["ops"])
    assert (out / "labels.txt").read_text().split() == [str(i) for i in range(10)]


def test_report_table_lists_every_format(cnn_export):
    from components.edge_export.report import format_table

    report, _ = cnn_export
    table = format_table(report)
    for name in ("savedmodel", *formats.FORMATS):
        assert f"\n{name} " in table


def test_without_the_metadata_writers_the_file_is_kept_and_the_report_says_so(
        tmp_path, cnn_saved_model, digits, monkeypatch):
    """A machine without tflite-support's native dependency (Debian's libusb-1.0-0) still
    gets a working, gated .tflite: the metadata stays in the side files, and the report
    names what is missing. (sys.modules stands in for the missing library.)"""
    import sys

    from components.edge_export.data import Dataset
    from components.edge_export.export import export_edge

    monkeypatch.setitem(sys.modules, "tensorflow_lite_support.metadata.python."
                                     "metadata_writers", None)  # import raises ImportError
    report = export_edge(cnn_saved_model, tmp_path,
                         formats.ExportOptions(formats=("float32",), latency_runs=5),
                         eval_data=Dataset(digits["x_eval"], digits["y_eval"]))
    assert report.blessed_formats == ["float32"], report.result("float32").error
    assert report.result("float32").tflite_metadata is None
    assert any(n.startswith("TFLite metadata not embedded: cannot import") for n in report.notes)
    assert (tmp_path / "model_float32.tflite").is_file()
