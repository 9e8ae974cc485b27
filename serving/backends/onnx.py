"""ONNX Runtime backend: ``model.onnx`` from the edge export, as one ``serving_default``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow.core.framework import types_pb2

from dlpipe.contract import PREDICT_METHOD
from serving.backends.base import DEFAULT_SIGNATURE, Servable, Signature, TensorSpec
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


def check_blessed(meta: Mapping[str, Any], model_file: Path) -> None:
    """Refuses a file the edge export report did not bless (its parity check failed).

    Raises:
      ServingError: FAILED_PRECONDITION naming the file and the report's verdict.
    """
    formats = meta.get("formats")
    if not isinstance(formats, Mapping):
        return
    for fmt, entry in formats.items():
        if isinstance(entry, Mapping) and entry.get("file") == model_file.name:
            if entry.get("blessed") is False:
                raise ServingError(
                    Code.FAILED_PRECONDITION,
                    f"{model_file} ({fmt}) was not blessed by the edge export report "
                    f"(max_abs_diff={entry.get('max_abs_diff')}); refusing to serve it",
                )


def edge_names(meta: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The single input and output names metadata.json declares, if any."""
    names = []
    for key in ("input", "output"):
        entry = meta.get(key)
        name = entry.get("name") if isinstance(entry, Mapping) else None
        names.append(name if isinstance(name, str) and name else None)
    return names[0], names[1]


def signature_name_from(meta: Mapping[str, Any]) -> str:
    name = meta.get("signature_name") or meta.get("signature")
    return name if isinstance(name, str) and name else DEFAULT_SIGNATURE


class OnnxServable(Servable):
    """``<version>/model.onnx`` served as a predict signature (named by metadata.json)."""

    backend = "onnx"

    def __init__(self, path: Path, intra_op_threads: int = 0) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        model = self.path / "model.onnx"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = intra_op_threads  # 0: ONNX Runtime's default
        # Idle pool threads would spin on cores the request threads need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types
            raise ServingError(Code.UNKNOWN, f"Failed to load ONNX model {model}: {e}") from e
        meta = read_metadata(self.path)
        check_blessed(meta, model)
        name = signature_name_from(meta)
        ins, outs = self._session.get_inputs(), self._session.get_outputs()
        in_name, out_name = edge_names(meta)
        # Clients use the names metadata.json declares when the graph has one input/output.
        self._in_alias = {i.name: (in_name if in_name and len(ins) == 1 else alias(i.name))
                          for i in ins}
        self._out_alias = {o.name: (out_name if out_name and len(outs) == 1 else alias(o.name))
                           for o in outs}
        self._names = {a: n for n, a in self._in_alias.items()}
        self._out_names = [o.name for o in outs]
        self._signatures = {
            name: Signature(
                name=name,
                method_name=PREDICT_METHOD,
                inputs={self._in_alias[i.name]: self._spec(i, self._in_alias[i.name])
                        for i in ins},
                outputs={self._out_alias[o.name]: self._spec(o, self._out_alias[o.name])
                         for o in outs},
            )
        }

    @staticmethod
    def _spec(arg: Any, name: str) -> TensorSpec:
        if arg.type not in _ORT_TYPES:
            raise ServingError(
                Code.UNIMPLEMENTED, f"Unsupported ONNX type {arg.type} of {arg.name}"
            )
        shape = None if arg.shape is None else tuple(
            d if isinstance(d, int) and d >= 0 else None for d in arg.shape
        )
        return TensorSpec(name, _ORT_TYPES[arg.type], shape, arg.name)

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    def _run(self, signature: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        feed = {self._names[k]: v for k, v in inputs.items()}
        try:
            results = self._session.run(self._out_names, feed)
        except Exception as e:  # onnxruntime's InvalidArgument, Fail, ...
            raise invalid_argument(f"ONNX Runtime rejected the inputs: {e}") from e
        return {self._out_alias[n]: r for n, r in zip(self._out_names, results, strict=True)}
