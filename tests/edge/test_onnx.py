"""ONNX specifics: signatures capturing constants (as tf.Transform layers do) still convert."""

from __future__ import annotations

import numpy as np

from components.edge_export import formats
from components.edge_export.data import Dataset
from components.edge_export.export import export_edge


def test_captured_constants_are_frozen_not_graph_inputs(tmp_path):
    import onnx
    import tensorflow as tf

    module = tf.Module()
    module.scale = tf.Variable(2.0)
    offset = tf.constant(0.5)  # Captured eager tensor: not a variable, restored as a capture.
    edge = tf.function(
        lambda x: {"y": x * module.scale + offset},
        input_signature=[tf.TensorSpec([None, 4], tf.float32, name="values")],
    )
    tf.saved_model.save(
        module, str(tmp_path / "sm"), signatures={"edge": edge.get_concrete_function()}
    )

    report = export_edge(
        tmp_path / "sm",
        tmp_path / "out",
        formats.ExportOptions(formats=("onnx",), latency_runs=10),
        representative=Dataset(np.ones((8, 4), np.float32)),
    )
    assert report.blessed_formats == ["onnx"], report.result("onnx").error
    graph = onnx.load(str(tmp_path / "out" / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["values"]
    assert [o.name for o in graph.output] == ["y"]
