"""Bad input: each error names the format and the cause; the other formats still go through."""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.edge_export import formats
from components.edge_export.data import Dataset
from components.edge_export.export import export_edge
from components.edge_export.report import format_table
from components.edge_export.signature import NotASavedModelError
from tests.edge.conftest import LATENCY_RUNS

FAST = {"latency_runs": LATENCY_RUNS, "num_parity": 32}


def save_module(path, fn, input_spec):
    """Saves ``fn`` (input -> {"y": ...}) with one variable as signature ``edge``."""
    import tensorflow as tf

    module = tf.Module()
    module.scale = tf.Variable(1.5)
    edge = tf.function(lambda x: fn(x * module.scale), input_signature=[input_spec])
    tf.saved_model.save(module, str(path), signatures={"edge": edge.get_concrete_function()})
    return path


def test_not_a_saved_model(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(NotASavedModelError, match="is not a SavedModel.*notes.txt"):
        export_edge(tmp_path, tmp_path / "out")


def test_op_tflite_cannot_express_is_named_and_onnx_still_produced(tmp_path):
    import tensorflow as tf

    saved = save_module(
        tmp_path / "sm",
        lambda m: {"y": tf.reshape(tf.linalg.det(m), [-1, 1])},
        tf.TensorSpec([None, 3, 3], tf.float32, name="matrix"),
    )
    x = np.random.default_rng(0).normal(size=(40, 3, 3)).astype(np.float32)
    report = export_edge(
        saved, tmp_path / "out", formats.ExportOptions(**FAST), representative=Dataset(x)
    )
    for fmt in formats.TFLITE_FORMATS:
        result = report.result(fmt)
        assert not result.blessed and "MatrixDeterminant" in result.error, (fmt, result.error)
    onnx = report.result("onnx")
    assert onnx.blessed, (onnx.error, onnx.gate_failures)
    assert (tmp_path / "out" / "model.onnx").is_file()

    # Where the model truly needs Flex and the user allows it, report and metadata say so.
    flex = export_edge(
        saved,
        tmp_path / "flex",
        formats.ExportOptions(formats=("float32",), allow_flex=True, **FAST),
        representative=Dataset(x),
    )
    assert flex.needs_flex and flex.result("float32").needs_flex
    assert "FlexMatrixDeterminant" in flex.result("float32").ops
    meta = json.loads((tmp_path / "flex" / "metadata.json").read_text())
    assert meta["needs_flex"] is True and meta["formats"]["float32"]["needs_flex"] is True
    assert "needs the Flex delegate for FlexMatrixDeterminant" in format_table(flex)


def test_op_onnx_cannot_express_is_named_and_tflite_still_produced(tmp_path):
    import tensorflow as tf

    saved = save_module(
        tmp_path / "sm",
        lambda v: {"y": tf.math.lgamma(v)},
        tf.TensorSpec([None, 4], tf.float32, name="values"),
    )
    report = export_edge(
        saved,
        tmp_path / "out",
        formats.ExportOptions(formats=("float32", "onnx"), **FAST),
        representative=Dataset(np.linspace(0.5, 5, 80, dtype=np.float32).reshape(20, 4)),
    )
    assert "Lgamma" in report.result("onnx").error
    assert report.result("float32").blessed, report.result("float32").gate_failures


def test_unknown_rank_names_the_input_unless_the_spec_fixes_the_shape(tmp_path):
    import tensorflow as tf

    from models import edge

    saved = save_module(
        tmp_path / "sm", lambda v: {"y": v * 2.0}, tf.TensorSpec(None, tf.float32, name="values")
    )
    report = export_edge(saved, tmp_path / "out", formats.ExportOptions(**FAST))
    # One cause, said once (not once per format), and nothing written.
    assert "input 'values' of signature 'edge' has unknown rank" in report.error
    assert not report.blessed_formats and all(r.error for r in report.formats)
    assert format_table(report).count("unknown rank") == 1
    assert not (tmp_path / "out").exists()
    # Declaring the shape in an edge spec is the fix: given to the exporter...
    spec = edge.EdgeSpec(input_name="values", input_shape=(4,), output_name="y", task="regression")
    report = export_edge(
        saved,
        tmp_path / "out1",
        formats.ExportOptions(formats=("float32",), edge_spec=spec, **FAST),
    )
    assert report.blessed_formats == ["float32"]
    # ... or, better, saved with the model.
    edge.write_edge_spec(
        saved,
        edge.EdgeSpec(input_name="values", input_shape=(4,), output_name="y", task="regression"),
    )
    report = export_edge(
        saved, tmp_path / "out2", formats.ExportOptions(formats=("float32", "onnx"), **FAST)
    )
    assert report.blessed_formats == ["float32", "onnx"]


def test_representative_data_of_the_wrong_shape_fails_int8_only(tmp_path, cnn_saved_model, digits):
    report = export_edge(
        cnn_saved_model,
        tmp_path,
        formats.ExportOptions(formats=("float32", "int8"), **FAST),
        representative=Dataset(digits["x_train"][:, :5]),
        eval_data=Dataset(digits["x_eval"], digits["y_eval"]),
    )
    int8 = report.result("int8")
    assert not int8.blessed
    assert "representative data has per-example shape (5, 8, 1)" in int8.error
    assert "expects (8, 8, 1)" in int8.error
    assert report.result("float32").blessed
