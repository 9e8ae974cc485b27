"""The edge push: only blessed formats land, atomically, in <edge_root>/<model>/<version>/."""

from __future__ import annotations

import json

import pytest

from components.edge_export import formats
from components.edge_export.data import Dataset
from components.edge_export.export import export_edge
from components.edge_pusher.push import EdgePushError, push_edge_models
from tests.edge.conftest import LATENCY_RUNS


@pytest.fixture(scope="module")
def export_with_int8_forced_to_fail(tmp_path_factory, cnn_saved_model, digits):
    out = tmp_path_factory.mktemp("forced")
    report = export_edge(
        cnn_saved_model,
        out,
        formats.ExportOptions(
            formats=("float32", "int8", "onnx"),
            latency_runs=LATENCY_RUNS,
            # No int8 model matches the float model to 1e-9: this gate cannot pass.
            gate_overrides=formats.parse_gate_overrides('{"int8": {"max_abs": 1e-9}}'),
        ),
        representative=Dataset(digits["x_train"]),
        eval_data=Dataset(digits["x_eval"], digits["y_eval"]),
    )
    return report, out


def test_failed_gate_is_reported_with_its_margin(export_with_int8_forced_to_fail):
    report, _ = export_with_int8_forced_to_fail
    int8 = report.result("int8")
    assert int8.error is None and not int8.blessed
    assert int8.gate == "max_abs <= 1e-09"
    assert int8.gate_failures[0].startswith("max_abs ") and "> 1e-09 (by " in int8.gate_failures[0]
    assert report.blessed_formats == ["float32", "onnx"]


def test_format_failing_its_gate_is_not_pushed_while_the_others_are(
    tmp_path, export_with_int8_forced_to_fail
):
    _, out = export_with_int8_forced_to_fail
    result = push_edge_models(out, tmp_path / "edge", "digits", 3)
    target = tmp_path / "edge" / "digits" / "3"
    assert result.path == target
    assert result.formats == ("float32", "onnx") and result.skipped == ("int8",)
    assert sorted(p.name for p in target.iterdir()) == [
        "labels.txt",
        "metadata.json",
        "model.onnx",
        "model_float32.tflite",
    ]
    meta = json.loads((target / "metadata.json").read_text())
    assert (meta["model_name"], meta["version"]) == ("digits", 3)
    assert sorted(meta["formats"]) == ["float32", "onnx"]
    # No temporary directory is left behind.
    assert [p.name for p in (tmp_path / "edge" / "digits").iterdir()] == ["3"]


def test_a_version_is_pushed_once(tmp_path, export_with_int8_forced_to_fail):
    _, out = export_with_int8_forced_to_fail
    push_edge_models(out, tmp_path, "digits", 1)
    with pytest.raises(EdgePushError, match="already exists"):
        push_edge_models(out, tmp_path, "digits", 1)
    with pytest.raises(EdgePushError, match="non-negative integer. Received: '2'"):
        push_edge_models(out, tmp_path, "digits", "2")


def test_nothing_blessed_pushes_nothing(tmp_path, cnn_saved_model, digits):
    out = tmp_path / "export"
    export_edge(
        cnn_saved_model,
        out,
        formats.ExportOptions(
            formats=("float32",),
            latency_runs=LATENCY_RUNS,
            gate_overrides={"float32": formats.Gate(max_accuracy_drop=-1.0)},
        ),
        eval_data=Dataset(digits["x_eval"], digits["y_eval"]),
    )
    result = push_edge_models(out, tmp_path / "edge", "digits", 1)
    assert result.path is None and result.skipped == ("float32",)
    assert not (tmp_path / "edge").exists()
