"""Running each format (SavedModel, LiteRT, ONNX Runtime) on numpy inputs, and timing it.

Every runner maps a float/int numpy batch to a float numpy output, so parity, accuracy and
latency are measured the same way: quantized TFLite inputs and outputs are (de)quantized
with the tensor's own scale and zero point, as an app would.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from components.edge_export.signature import EdgeSignature


class SavedModelRunner:
    """Calls the SavedModel signature itself (the reference)."""

    def __init__(self, loaded: Any, sig: EdgeSignature) -> None:
        self._fn = loaded.signatures[sig.key]
        self._in = sig.input.name
        self._out = sig.output.name
        self._dtype = np.dtype(sig.input.dtype)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._fn(**{self._in: tf.constant(x.astype(self._dtype))})[self._out].numpy()


class TFLiteRunner:
    """Runs a TFLite flatbuffer with the LiteRT interpreter (one thread)."""

    def __init__(self, model: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interp = Interpreter(model_content=model, num_threads=1)
        self._interp.allocate_tensors()
        self.input_detail = self._interp.get_input_details()[0]
        self.output_detail = self._interp.get_output_details()[0]
        self.batch_size = int(self.input_detail["shape"][0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(x) != self.batch_size:
            return np.concatenate(
                [self(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
            )
        self._interp.set_tensor(self.input_detail["index"], quantize(x, self.input_detail))
        self._interp.invoke()
        return dequantize(self._interp.get_tensor(self.output_detail["index"]), self.output_detail)


class OnnxRunner:
    """Runs an ONNX model with ONNX Runtime's CPU provider (one intra-op thread)."""

    def __init__(self, model: bytes) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._in = inp.name
        self._dtype = _ONNX_DTYPES.get(inp.type, np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._in: x.astype(self._dtype)})[0]


_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(double)": np.float64,
}


class Adapted:
    """A runner fed through ``adapt`` first (e.g. grey images as RGB for an RGB-input file)."""

    def __init__(self, runner: Any, adapt: Any) -> None:
        self.runner = runner
        self._adapt = adapt

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.runner(self._adapt(x))


def quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Maps real values to a TFLite tensor's dtype (quantizing int8/uint8 tensors)."""
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if dtype in (np.int8, np.uint8) and scale:
        info = np.iinfo(dtype)
        q = np.round(x.astype(np.float32) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Maps a TFLite output tensor back to real values."""
    scale, zero_point = detail["quantization"]
    if detail["dtype"] in (np.int8, np.uint8) and scale:
        return (y.astype(np.float32) - zero_point) * scale
    return y.astype(np.float32)


def predict(runner: Any, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Runs ``runner`` over ``x`` in batches and concatenates the outputs."""
    return np.concatenate([runner(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def latency_ms(runner: Any, x1: np.ndarray, runs: int, warmup: int = 10) -> tuple[float, float]:
    """Batch-1 latency of ``runner(x1)``: (p50, p99) in milliseconds over ``runs`` calls."""
    for _ in range(warmup):
        runner(x1)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        runner(x1)
        times[i] = time.perf_counter() - start
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)
