"""TF SavedModel backend: ``tf.saved_model.load`` and its signature functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from serving.backends.base import Servable, Signature, TensorSpec
from serving.errors import Code, ServingError, invalid_argument


def read_meta_graph(path: Path, tags: tuple[str, ...] = ("serve",)) -> Any:
    """The MetaGraphDef with ``tags`` from ``saved_model.pb``.

    Raises:
      ServingError: NOT_FOUND / INVALID_ARGUMENT when the file is missing or malformed.
    """
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    pb, pbtxt = path / "saved_model.pb", path / "saved_model.pbtxt"
    try:
        if pb.is_file():
            sm.ParseFromString(pb.read_bytes())
        elif pbtxt.is_file():
            text_format.Parse(pbtxt.read_text(), sm)
        else:
            raise ServingError(Code.NOT_FOUND, f"No saved_model.pb or saved_model.pbtxt in {path}")
    except (message.DecodeError, text_format.ParseError) as e:
        raise invalid_argument(f"Cannot parse the SavedModel in {path}: {e}") from e
    for mg in sm.meta_graphs:
        if set(tags) <= set(mg.meta_info_def.tags):
            return mg
    raise ServingError(
        Code.NOT_FOUND,
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }} in {path}",
    )


# ----- TensorFlow's error messages in the client's terms -----------------------------------
_INTERNALS = [
    re.compile(r"\s*\[\[\{\{(?:function_)?node [^\]]*\]\]"),  # [[{{node X}}]]
    re.compile(r"\s*\{\{(?:function_)?node [^}]*\}\}"),  # {{function_node __wrapped__...}}
    re.compile(r"\s*\[Op:[^\]]*\]"),  # [Op:__inference_signature_wrapper_147]
]
_DTYPE_WORDS = {"float": "float (float_list: JSON numbers such as 1.0)",
                "int64": "int64 (int64_list: JSON integers such as 1)",
                "string": "bytes (bytes_list: JSON strings or {\"b64\": ...})"}
_PARSE_EXAMPLE = [
    (re.compile(r"Key: (?P<key>.+?), Index: (?P<i>\d+)\.\s+Data types don't match\. "
                r"Data type: (?P<got>\w+) but expected type: (?P<want>\w+)"),
     lambda m: (f"Example {m['i']}: feature '{m['key']}' holds {m['got']} values; the model "
                f"expects {_DTYPE_WORDS.get(m['want'], m['want'])}.")),
    (re.compile(r"Key: (?P<key>.+?), Index: (?P<i>\d+)\.\s+Number of (?P<kind>\w+) values "
                r"!= expected\.\s+Values size: (?P<n>\d+) but output shape: (?P<shape>\[[^\]]*\])"),
     lambda m: (f"Example {m['i']}: feature '{m['key']}' has {m['n']} {m['kind']} values; the "
                f"model expects shape {m['shape']}.")),
    (re.compile(r"Feature: (?P<key>.+?) \(data type: (?P<want>\w+)\) is required but could not "
                r"be found"),
     lambda m: (f"Feature '{m['key']}' is missing from an example; the model requires it, as "
                f"{_DTYPE_WORDS.get(m['want'], m['want'])}.")),
    (re.compile(r"Could not parse example input"),
     lambda m: ("A value of the input could not be parsed as a serialized tf.Example: this "
                "signature takes tf.Example protos (send JSON \"examples\" to :classify or "
                ":regress, or serialized protos as {\"b64\": ...}).")),
]


def client_message(message: str) -> str:
    """A TensorFlow runtime error as a client should read it: what input was wrong.

    TensorFlow's messages carry graph internals (``Graph execution error``, ``Detected at
    node ...``, ``{{function_node __wrapped__...}}``, ``[Op:...]``); they are cut, and the
    tf.Example parsing errors a client can cause are reworded in the request's terms.
    """
    for pattern, say in _PARSE_EXAMPLE:
        m = pattern.search(message)
        if m:
            return say(m)
    lines = []
    skipping_trace = False
    for line in message.splitlines():
        stripped = line.strip()
        if stripped.startswith("Graph execution error") or not stripped:
            continue
        if stripped.startswith("Detected at node"):
            skipping_trace = True
            continue
        if skipping_trace:
            if stripped == "<stack traces unavailable>" or stripped.startswith("File ") \
                    or line.startswith((" ", "\t")):
                continue
            skipping_trace = False
        lines.append(stripped)
    text = " ".join(lines)
    for pattern in _INTERNALS:
        text = pattern.sub("", text)
    text = text.strip()
    return text or "The model could not run on this input."


def _spec(alias: str, info: Any) -> TensorSpec:
    shape = None if info.tensor_shape.unknown_rank else tuple(
        None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim
    )
    return TensorSpec(name=alias, dtype=int(info.dtype), shape=shape, tensor_name=info.name)


class SavedModelServable(Servable):
    """A SavedModel version; every signature of its ``serve`` MetaGraph is callable."""

    backend = "tensorflow"

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.path = Path(path)
        self._meta_graph = read_meta_graph(self.path)
        try:
            self._loaded = tf.saved_model.load(str(self.path), tags=["serve"])
        except Exception as e:  # TF raises many types for a broken model; report them all.
            raise ServingError(Code.UNKNOWN, f"Failed to load SavedModel {self.path}: {e}") from e
        self._functions = dict(self._loaded.signatures)
        self._signatures = {}
        for name, sd in self._meta_graph.signature_def.items():
            if name not in self._functions:
                continue  # e.g. __saved_model_init_op: listed in metadata, not callable
            self._signatures[name] = Signature(
                name=name,
                method_name=sd.method_name,
                inputs={k: _spec(k, v) for k, v in sd.inputs.items()},
                outputs={k: _spec(k, v) for k, v in sd.outputs.items()},
            )
        self._tf = tf
        # Input order of each signature's flat call (keyword-only signatures; TF 2.16).
        self._flat_order: dict[str, list[str]] = {}
        for name, fn in self._functions.items():
            args, kwargs = getattr(fn, "structured_input_signature", (None, None))
            if (args == () and isinstance(kwargs, dict) and hasattr(fn, "_call_flat")
                    and isinstance(getattr(fn, "structured_outputs", None), dict)):
                self._flat_order[name] = sorted(kwargs)

    @property
    def signatures(self) -> Mapping[str, Signature]:
        return self._signatures

    def signature_def_map(self) -> Any:
        from tensorflow_serving.apis import get_model_metadata_pb2

        out = get_model_metadata_pb2.SignatureDefMap()
        for name, sd in self._meta_graph.signature_def.items():
            out.signature_def[name].CopyFrom(sd)
        return out

    def _run(self, signature: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        tf = self._tf
        fn = self._functions[signature.name]
        feed = {}
        for k, v in inputs.items():
            if v.dtype == object:
                feed[k] = tf.constant(v.tolist() if v.ndim else v.item(), dtype=tf.string)
            else:
                feed[k] = tf.constant(v)
        try:
            order = self._flat_order.get(signature.name)
            if order is not None and set(feed) == set(order):
                # The signature's graph function called directly: the structured call
                # (argument binding, nest flattening and packing) costs a third of a
                # batch-1 call. Both return the same dict; inputs were checked already.
                result = fn._call_flat([feed[k] for k in order], fn.captured_inputs)
            else:
                result = fn(**feed)
        except tf.errors.InvalidArgumentError as e:
            raise invalid_argument(client_message(e.message)) from None
        except tf.errors.OpError as e:
            raise ServingError(Code(e.error_code), client_message(e.message)) from None
        except (TypeError, ValueError) as e:
            raise invalid_argument(client_message(str(e))) from None
        return {k: v.numpy() for k, v in result.items()}
