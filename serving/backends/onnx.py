"""ONNX Runtime backend: ``model.onnx`` from the edge export, as one ``serving_default``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow.core.framework import types_pb2

from serving.backends.base import DEFAULT_SIGNATURE, PREDICT_METHOD, Servable, Signature, TensorSpec
from serving.errors import Code, ServingError, invalid_argument

_ORT_TYPES = {
    "tensor(float)": types_pb2.DT_FLOAT,
    "tensor(double)": types_pb2.DT_DOUBLE,
    "tensor(int32)": types_pb2.DT_INT32,
    "tensor(int64)": types_pb2.DT_INT64,
    "tensor(int16)": types_pb2.DT_INT16,
    "tensor(int8)": types_pb2.DT_INT8,
    "tensor(uint8)": types_pb2.DT_UINT8,
    "tensor(bool)": types_pb2.DT_BOOL,
    "tensor(string)": types_pb2.DT_STRING,
    "tensor(float16)": types_pb2.DT_HALF,
}


def alias(name: str) -> str:
    """Client-facing name of a graph tensor: ``image:0`` -> ``image``."""
    return name[:-2] if name.endswith(":0") else name


def read_metadata(path: Path) -> dict[str, Any]:
    """The edge export's ``metadata.json`` next to the model file, if any."""
    meta = path / "metadata.json"
    if not meta.is_file():
        return {}
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def signature_name_from(meta: Mapping[str, Any]) -> str:
    name = meta.get("signature_name") or meta.get("signature")
    return name if isinstance(name, str) and name else DEFAULT_SIGNATURE


class OnnxServable(Servable):
    """``<version>/model.onnx`` served as a predict signature (named by metadata.json)."""

    backend = "onnx"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        model = self.path / "model.onnx"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types
            raise ServingError(Code.UNKNOWN, f"Failed to load ONNX model {model}: {e}") from e
        name = signature_name_from(read_metadata(self.path))
        self._names = {alias(i.name): i.name for i in self._session.get_inputs()}
        self._out_names = [o.name for o in self._session.get_outputs()]
        self._signatures = {
            name: Signature(
                name=name,
                method_name=PREDICT_METHOD,
                inputs={alias(i.name): self._spec(i) for i in self._session.get_inputs()},
                outputs={alias(o.name): self._spec(o) for o in self._session.get_outputs()},
            )
        }

    @staticmethod
    def _spec(arg: Any) -> TensorSpec:
        if arg.type not in _ORT_TYPES:
            raise ServingError(
                Code.UNIMPLEMENTED, f"Unsupported ONNX type {arg.type} of {arg.name}"
            )
        shape = None if arg.shape is None else tuple(
            d if isinstance(d, int) and d >= 0 else None for d in arg.shape
        )
        return TensorSpec(alias(arg.name), _ORT_TYPES[arg.type], shape, arg.name)

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    def _run(self, signature: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        feed = {self._names[k]: v for k, v in inputs.items()}
        try:
            results = self._session.run(self._out_names, feed)
        except Exception as e:  # onnxruntime's InvalidArgument, Fail, ...
            raise invalid_argument(f"ONNX Runtime rejected the inputs: {e}") from e
        return {alias(n): r for n, r in zip(self._out_names, results, strict=False)}
