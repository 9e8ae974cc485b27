"""Recurrent models reach TFLite as builtin ops only (no Flex), per the edge signature."""

from __future__ import annotations

import numpy as np
import pytest

from components.edge_export import formats, tflite_ops
from tests.edge.conftest import LATENCY_RUNS, saved_model_outputs

SEQ_LEN = 12
VOCAB = 40


def build_rnn(kind: str):
    import keras

    keras.utils.set_random_seed(3)
    tokens = keras.Input((SEQ_LEN,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(VOCAB, 8, name="embed")(tokens)
    layer = keras.layers.LSTM if kind == "lstm" else keras.layers.GRU
    x = layer(16, name=kind)(x)  # unroll=False: the looped graph TFLite cannot lower.
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(tokens, outputs, name=kind)


def rnn_spec():
    from models import edge

    return edge.EdgeSpec(
        input_name="tokens",
        input_shape=(SEQ_LEN,),
        input_dtype="int32",
        labels=("a", "b", "c"),
        input_range=(0, VOCAB - 1),
        recurrent=True,
    )


def tokens(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=(n, SEQ_LEN)).astype(np.int32)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_rnn_converts_to_builtin_ops_only(tmp_path, kind):
    from ai_edge_litert.interpreter import Interpreter

    from components.edge_export.data import Dataset
    from components.edge_export.export import export_edge
    from models import edge

    saved = edge.export_with_edge_signatures(tmp_path / "sm", build_rnn(kind), rnn_spec())
    x = tokens(64)
    # The unrolled edge signature computes what the looped serving signature does.
    np.testing.assert_allclose(
        saved_model_outputs(saved, x, "edge"),
        saved_model_outputs(saved, x, "serving_default"),
        atol=1e-6,
    )
    report = export_edge(
        saved,
        tmp_path / "edge",
        formats.ExportOptions(
            formats=(formats.FLOAT32, formats.DYNAMIC_RANGE, formats.ONNX),
            latency_runs=LATENCY_RUNS,
        ),
        representative=Dataset(tokens(100, seed=1)),
        eval_data=Dataset(x, np.zeros(len(x), np.int64)),
    )
    assert report.blessed_formats == ["float32", "dynamic_range", "onnx"], [
        (r.format, r.error, r.gate_failures) for r in report.formats
    ]
    assert report.result("float32").gate == "max_abs <= 0.0001"  # The RNN tolerance.
    for fmt in (formats.FLOAT32, formats.DYNAMIC_RANGE):
        data = (tmp_path / "edge" / formats.FILE_NAMES[fmt]).read_bytes()
        ops = tflite_ops.op_names(data)
        assert tflite_ops.non_builtin_ops(ops) == [], ops
        assert "FULLY_CONNECTED" in ops
        # The plain runtime (no Flex delegate) runs it.
        interp = Interpreter(model_content=data)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x[:1])
        interp.invoke()


def test_looped_rnn_names_the_cause_and_onnx_still_goes_through(tmp_path):
    from components.edge_export.export import export_edge
    from models import edge

    model = build_rnn("lstm")
    saved = edge.export_with_edge_signatures(tmp_path / "sm", model, rnn_spec(), edge_model=model)
    report = export_edge(
        saved,
        tmp_path / "edge",
        formats.ExportOptions(formats=("float32", "onnx"), latency_runs=LATENCY_RUNS),
    )
    float32 = report.result("float32")
    assert not float32.blessed and "tensor list ops" in float32.error
    assert "unroll" in float32.error
    assert report.result("onnx").error is None
    assert report.result("onnx").max_abs_diff <= 1e-4
