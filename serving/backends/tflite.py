"""LiteRT (TFLite) backend: a ``*.tflite`` file from the edge export.

The LiteRT interpreter is not thread safe, so the servable keeps a small pool of
interpreters and each call borrows one. Inputs whose batch dimension differs from the
model's are resized (dynamic batch) or, for a fixed batch-1 model, run row by row.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.contract import PREDICT_METHOD
from serving import tensors
from serving.backends.base import Servable, Signature, TensorSpec
from serving.backends.onnx import (
    alias,
    check_blessed,
    read_metadata,
    signature_name_from,
)
from serving.errors import Code, ServingError, invalid_argument

PREFERRED_FILES = ("model_float32.tflite", "model.tflite")


def pick_model_file(path: Path) -> Path:
    """``model_float32.tflite`` if present, else the first ``*.tflite`` by name."""
    for name in PREFERRED_FILES:
        if (path / name).is_file():
            return path / name
    files = sorted(path.glob("*.tflite"))
    if not files:
        raise ServingError(Code.NOT_FOUND, f"No *.tflite file in {path}")
    return files[0]


class TfliteServable(Servable):
    """A ``.tflite`` model served as one predict signature."""

    backend = "tflite"

    def __init__(self, path: Path, num_interpreters: int = 2, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.model_file = pick_model_file(self.path)
        self._pool: queue.Queue = queue.Queue()
        try:
            for _ in range(num_interpreters):
                interp = Interpreter(model_path=str(self.model_file), num_threads=num_threads)
                interp.allocate_tensors()
                self._pool.put(interp)
        except Exception as e:  # LiteRT raises ValueError/RuntimeError for bad files
            raise ServingError(
                Code.UNKNOWN, f"Failed to load TFLite model {self.model_file}: {e}"
            ) from e
        interp = self._pool.queue[0]
        sig_list = interp.get_signature_list()
        self._tfl_signature = next(iter(sig_list)) if sig_list else None
        meta = read_metadata(self.path)
        check_blessed(meta, self.model_file)
        name = signature_name_from(meta)
        if self._tfl_signature is not None:
            runner = interp.get_signature_runner(self._tfl_signature)
            ins = runner.get_input_details()
            outs = runner.get_output_details()
            inputs = {k: self._spec(k, d) for k, d in ins.items()}
            outputs = {k: self._spec(k, d) for k, d in outs.items()}
        else:
            inputs = {alias(d["name"]): self._spec(alias(d["name"]), d)
                      for d in interp.get_input_details()}
            outputs = {alias(d["name"]): self._spec(alias(d["name"]), d)
                       for d in interp.get_output_details()}
        self._signatures = {name: Signature(name, PREDICT_METHOD, inputs, outputs)}

    @staticmethod
    def _spec(name: str, detail: Mapping[str, Any]) -> TensorSpec:
        sig_shape = detail.get("shape_signature", detail["shape"])
        shape = tuple(None if int(d) < 0 else int(d) for d in sig_shape)
        if shape and shape[0] == 1:
            shape = (None,) + shape[1:]  # batch rows one by one
        dtype = tensors.tf_dtype(np.zeros(0, dtype=detail["dtype"]))
        return TensorSpec(name, dtype, shape, detail["name"])

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    def _run(self, signature: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        interp = self._pool.get()
        try:
            batch = {int(v.shape[0]) for v in inputs.values() if v.ndim}
            if len(batch) > 1:
                raise invalid_argument(
                    f"All inputs must have the same batch size. Received: {sorted(batch)}"
                )
            return self._invoke(interp, inputs)
        except ServingError:
            raise
        except Exception as e:  # LiteRT's ValueError/RuntimeError on bad shapes
            raise invalid_argument(f"LiteRT rejected the inputs: {e}") from e
        finally:
            self._pool.put(interp)

    def _invoke(self, interp: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        if self._tfl_signature is not None:
            runner = interp.get_signature_runner(self._tfl_signature)
            fixed = {k: d for k, d in runner.get_input_details().items()
                     if int(d.get("shape_signature", d["shape"])[0]) == 1}
            n = next(iter(inputs.values())).shape[0] if inputs else 1
            if fixed and n != 1:
                rows = [runner(**{k: v[i:i + 1] for k, v in inputs.items()}) for i in range(n)]
                return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
            return {k: np.copy(v) for k, v in runner(**inputs).items()}
        details = {alias(d["name"]): d for d in interp.get_input_details()}
        n = next(iter(inputs.values())).shape[0]
        rows = []
        for i in range(n):
            for k, v in inputs.items():
                interp.set_tensor(details[k]["index"], v[i:i + 1])
            interp.invoke()
            rows.append({alias(d["name"]): np.copy(interp.get_tensor(d["index"]))
                         for d in interp.get_output_details()})
        return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
