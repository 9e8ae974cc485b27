"""TF Serving's REST JSON encoding (``tensorflow_serving/util/json_tensor.cc``), in Python.

Requests: ``instances`` (row format) or ``inputs`` (columnar), typed by the signature's
input dtypes; ``{"b64": ...}`` for binary strings; NaN / Infinity accepted. Classify and
regress requests build tf.Examples from ``examples`` (+ ``context``) with the same
int64/float/bytes inference. Responses: ``predictions`` / ``outputs`` / ``results``; floats
printed with the shortest of ``%g`` and ``%.9g`` that round-trips, whole numbers with a
trailing ``.0``; outputs named ``*_bytes`` as ``{"b64": ...}``. Error messages follow the
C++ wording so clients and docs about TF Serving apply.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.framework import types_pb2

from serving import deadlines, tensors
from serving.backends.base import TensorSpec
from serving.errors import Code, ServingError, invalid_argument

ROW, COLUMNAR = "row", "columnar"
_MAX_REPR = 256
_MAX_RANK = tensors.MAX_RANK
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT64_MAX = float(np.finfo(np.float64).max)

_INT_RANGES = {
    types_pb2.DT_INT32: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT16: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT8: (-(2**31), 2**31 - 1),
    types_pb2.DT_UINT8: (-(2**31), 2**31 - 1),
    types_pb2.DT_INT64: (-(2**63), 2**63 - 1),
    types_pb2.DT_UINT32: (0, 2**32 - 1),
    types_pb2.DT_UINT64: (0, 2**64 - 1),
}
_NARROW = {types_pb2.DT_INT16: np.int16, types_pb2.DT_INT8: np.int8, types_pb2.DT_UINT8: np.uint8}


# ----- helpers ------------------------------------------------------------------------
def _json_repr(val: Any) -> str:
    """JsonValueToString: the value as JSON, truncated after ``_MAX_REPR`` characters.

    Encoded lazily, so a message about a 10 MB document costs what its first 256
    characters cost, and a deeply nested one cannot exhaust the stack.
    """
    encoder = json.JSONEncoder(separators=(",", ":"))
    parts: list[str] = []
    length = 0
    try:
        for chunk in encoder.iterencode(val):
            parts.append(chunk)
            length += len(chunk)
            if length > _MAX_REPR:
                break
    except (TypeError, ValueError, RecursionError):
        parts.append("...")
    text = "".join(parts)
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "..."


def _json_type(val: Any) -> str:
    if val is None:
        return "Null"
    if val is True:
        return "True"
    if val is False:
        return "False"
    if isinstance(val, dict):
        return "Object"
    if isinstance(val, list):
        return "Array"
    if isinstance(val, str):
        return "String"
    return "Number"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_b64(v: Any) -> bool:
    return isinstance(v, dict) and len(v) == 1 and isinstance(v.get("b64"), str)


def _decode_b64(v: Any) -> bytes:
    if not _is_b64(v):
        raise invalid_argument(
            f"JSON Value: {_json_repr(v)} not formatted correctly for base64 data"
        )
    try:
        return base64.b64decode(v["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument("Unable to base64 decode") from None


def _type_error(val: Any, dtype: int) -> ServingError:
    return invalid_argument(
        f"JSON Value: {_json_repr(val)} Type: {_json_type(val)} is not of expected type: "
        f"{tensors.dtype_name(dtype)}"
    )


def _lossless(val: int | float, digits: int, max_value: float) -> bool:
    if isinstance(val, float):
        return not math.isfinite(val) or -max_value <= val <= max_value
    return abs(val) <= (1 << digits) - 1


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:  # JSON's \ud800 escapes decode to lone surrogates
        raise invalid_argument(
            f"JSON Value: {_json_repr(text)} is not valid UTF-8 text: {e.reason} at "
            f"character {e.start}. Send binary data as {{\"b64\": \"<base64>\"}}."
        ) from None


_LONG_INTEGER = re.compile(r"(?<![\d.eE+-])-?\d{4000,}(?![\d.eE])")


def parse_json(body: bytes | str) -> dict[str, Any]:
    """Parses a request body; the top level must be an object.

    Raises:
      ServingError: INVALID_ARGUMENT "JSON Parse error: ..." like TF Serving.
    """
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    text = ""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        doc = json.loads(text)
    except UnicodeDecodeError as e:
        raise invalid_argument(
            f"JSON Parse error: Invalid encoding in string. at offset: {e.start}"
        ) from None
    except json.JSONDecodeError as e:
        raise invalid_argument(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except RecursionError:
        raise invalid_argument("JSON Parse error: The document is nested too deeply") from None
    except ValueError:  # Python's limit on int() of 4,300+ digits; RapidJSON's is double's
        m = _LONG_INTEGER.search(text)
        where = f" at offset: {m.start()} (an integer of {len(m.group())} digits)" if m else ""
        raise invalid_argument(
            f"JSON Parse error: Number too big to be stored in double{where}") from None
    deadlines.check("decoding the JSON body")
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {_json_repr(doc)} Is not object")
    return doc


def signature_name(doc: Mapping[str, Any]) -> str:
    """The optional ``signature_name`` (FillSignature)."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {_json_repr(doc)} not formatted correctly. 'signature_name' key must "
            "be a string value."
        )
    return name


# ----- JSON -> tensors ----------------------------------------------------------------
def _convert_leaf(val: Any, dtype: int) -> Any:
    if isinstance(val, dict):
        if dtype == types_pb2.DT_STRING:
            return _decode_b64(val)
        raise _type_error(val, dtype)
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        if not _is_number(val):
            raise _type_error(val, dtype)
        is_float = dtype == types_pb2.DT_FLOAT
        if not _lossless(val, 24 if is_float else 53, _FLOAT32_MAX if is_float else _FLOAT64_MAX):
            raise invalid_argument(
                f"Cannot convert JSON value: {_json_repr(val)} to "
                f"{'float' if is_float else 'double'} without loss of precision."
            )
        return val
    if dtype == types_pb2.DT_STRING:
        if not isinstance(val, str):
            raise _type_error(val, dtype)
        return _utf8(val)
    if dtype == types_pb2.DT_BOOL:
        if not isinstance(val, bool):
            raise _type_error(val, dtype)
        return val
    if dtype in _INT_RANGES:
        lo, hi = _INT_RANGES[dtype]
        if not isinstance(val, int) or isinstance(val, bool) or not lo <= val <= hi:
            raise _type_error(val, dtype)
        return val
    raise ServingError(
        Code.UNIMPLEMENTED,
        f"Conversion of JSON Value: {_json_repr(val)} to type: {tensors.dtype_name(dtype)}",
    )


def _dense_shape(val: Any) -> list[int]:
    shape = []
    while isinstance(val, list):
        shape.append(len(val))
        if len(shape) > _MAX_RANK:
            raise invalid_argument(
                f"JSON Value: {_json_repr(val)} is a list nested more than {_MAX_RANK} levels "
                f"deep; a tensor has at most {_MAX_RANK} dimensions"
            )
        if not val:
            break
        val = val[0]
    return shape


def _fill(val: Any, level: int, shape: list[int], dtype: int, out: list) -> None:
    rank = len(shape)
    if not isinstance(val, list):
        if level != rank:
            raise invalid_argument(
                f"JSON Value: {_json_repr(val)} found at incorrect level: {level + 1} in the "
                f"JSON DOM. Expected at level: {rank}"
            )
        out.append(_convert_leaf(val, dtype))
        return
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(val) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(val)} at level: {level} expected size: "
            f"{shape[level]}"
        )
    for v in val:
        _fill(v, level + 1, shape, dtype, out)


def _to_array(flat: list, shape: list[int], dtype: int) -> np.ndarray:
    np_dtype = tensors.numpy_dtype(dtype)
    if np_dtype is object:
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    if dtype in _NARROW:
        return np.asarray(flat, dtype=np.int64).astype(_NARROW[dtype]).reshape(shape)
    return np.asarray(flat, dtype=np_dtype).reshape(shape)


def _regular_leaves(val: Any, shape: list[int]) -> list | None:
    """The leaves of ``val`` in row-major order if it is a regular nest of lists of
    ``shape`` (every list at a level has that level's length), else None."""
    level = [val]
    for n in shape:
        if set(map(type, level)) != {list} or set(map(len, level)) != {n}:
            return None
        level = list(itertools.chain.from_iterable(level))
    if level and list in set(map(type, level)):
        return None
    return level


_FLOAT_RULES = {types_pb2.DT_FLOAT: (24, _FLOAT32_MAX, np.float32),
                types_pb2.DT_DOUBLE: (53, _FLOAT64_MAX, np.float64)}


def _bulk_array(leaves: list, shape: list[int], dtype: int) -> np.ndarray | None:
    """The tensor of well-formed leaves, converted by numpy in bulk; None when any rule
    might be broken (the element-by-element path then finds the first broken rule and
    words the error as TF Serving does). Same result as that path for every input it takes.
    """
    kinds = set(map(type, leaves))
    try:
        if dtype in _FLOAT_RULES:
            digits, max_value, np_type = _FLOAT_RULES[dtype]
            if kinds == {int}:
                arr = np.array(leaves, dtype=np.int64)
                if arr.size and np.abs(arr).max() > (1 << digits) - 1:
                    return None
                return arr.astype(np_type).reshape(shape)
            if not kinds <= {float, int}:
                return None
            if int in kinds:
                ints = [v for v in leaves if type(v) is int]
                if max(map(abs, ints)) > (1 << digits) - 1:
                    return None
            arr = np.array(leaves, dtype=np.float64)
            if dtype == types_pb2.DT_FLOAT:
                finite = arr[np.isfinite(arr)]
                if finite.size and np.abs(finite).max() > max_value:
                    return None
            return arr.astype(np_type).reshape(shape)
        if dtype in _INT_RANGES and dtype != types_pb2.DT_UINT64:
            if kinds and kinds != {int}:
                return None
            arr = np.array(leaves, dtype=np.int64)
            lo, hi = _INT_RANGES[dtype]
            if arr.size and (arr.min() < lo or arr.max() > hi):
                return None
            return arr.astype(_NARROW.get(dtype, tensors.numpy_dtype(dtype))).reshape(shape)
        if dtype == types_pb2.DT_BOOL:
            if kinds and kinds != {bool}:
                return None
            return np.array(leaves, dtype=np.bool_).reshape(shape)
        if dtype == types_pb2.DT_STRING:
            if kinds and kinds != {str}:
                return None
            arr = np.empty(len(leaves), dtype=object)
            arr[:] = [v.encode("utf-8") for v in leaves]
            return arr.reshape(shape)
    except (OverflowError, UnicodeEncodeError, ValueError):
        return None
    return None


def _fast_tensor(val: Any, dtype: int) -> np.ndarray | None:
    """The tensor of a regular, well-formed value converted in bulk, else None."""
    shape = _dense_shape(val)
    leaves = _regular_leaves(val, shape)
    return None if leaves is None else _bulk_array(leaves, shape, dtype)


_CHUNK = 1 << 16


def _first_invalid(leaves: list, dtype: int) -> int | None:
    """Index of the first leaf the element-by-element rules reject (None: every leaf passes).

    Chunks numpy accepts in bulk are skipped, so finding a bad value at the end of a large
    body costs about what converting the body costs.
    """
    for start in range(0, len(leaves), _CHUNK):
        chunk = leaves[start:start + _CHUNK]
        if _bulk_array(chunk, [len(chunk)], dtype) is not None:
            continue
        for i, v in enumerate(chunk, start):
            try:
                _convert_leaf(v, dtype)
            except ServingError:
                return i
    return None


def tensor_from_json(val: Any, dtype: int) -> np.ndarray:
    """One dense tensor from nested JSON lists (FillTensorProto's rules)."""
    shape = _dense_shape(val)
    leaves = _regular_leaves(val, shape)
    if leaves is not None:
        bulk = _bulk_array(leaves, shape, dtype)
        if bulk is not None:
            return bulk
        # A regular nest breaks no structure rule: the first leaf that fails, in row-major
        # order, is the one the recursive walk would report.
        bad = _first_invalid(leaves, dtype)
        if bad is not None:
            _convert_leaf(leaves[bad], dtype)  # raises
        return _to_array([_convert_leaf(v, dtype) for v in leaves], shape, dtype)
    flat: list = []
    _fill(val, 0, shape, dtype, flat)
    return _to_array(flat, shape, dtype)


def _instances(items: list, specs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    def is_object(v: Any) -> bool:
        return isinstance(v, dict) and not _is_b64(v)

    if not isinstance(items[0], dict) and len(specs) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    objects = is_object(items[0])
    names = sorted(specs)
    fast = _fast_instances(items, specs, objects)
    if fast is not None:
        return fast
    start = _first_bad_instance(items, specs, objects)
    rows: dict[str, list[np.ndarray]] = {n: [] for n in names}
    shapes: dict[str, tuple[int, list[int]]] = {}

    def add(value: Any, name: str) -> None:
        if name not in specs:
            raise invalid_argument(f"JSON object: does not have named input: {name}")
        t = tensor_from_json(value, specs[name].dtype)
        if t.ndim >= _MAX_RANK:
            raise invalid_argument(
                f"JSON Value: {_json_repr(value)} has {t.ndim} dimensions; with the batch "
                f"dimension a tensor has at most {_MAX_RANK}"
            )
        size = t.size
        if name not in shapes:
            shapes[name] = (size, list(t.shape))
        elif shapes[name][0] != size:
            raise invalid_argument(f"Expecting tensor size: {shapes[name][0]} but got: {size}")
        elif shapes[name][1] != list(t.shape):
            raise invalid_argument(
                f"Expecting shape [{','.join(map(str, shapes[name][1]))}] but got: "
                f"[{','.join(map(str, t.shape))}]"
            )
        rows[name].append(t)

    for i, elem in enumerate(items[start:], start):
        if objects:
            if not is_object(elem):
                raise invalid_argument(f"Expecting object but got list at item {i} of input list")
            for key, value in elem.items():
                try:
                    add(value, key)
                except ServingError as e:
                    raise invalid_argument(
                        f"Failed to process element: {i} key: {key} of 'instances' list. "
                        f"Error: {e.status_string()}"
                    ) from None
            if set(elem) != set(names):
                raise invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{_json_repr(elem)} keys must be equal to: {','.join(names)}"
                )
        else:
            if is_object(elem):
                raise invalid_argument(
                    f"Expecting value/list but got object at item {i} of input list"
                )
            try:
                add(elem, names[0])
            except ServingError as e:
                raise invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. Error: "
                    f"{e.status_string()}"
                ) from None
    return {n: np.stack(rows[n]) for n in names}


def _first_bad_instance(items: list, specs: Mapping[str, TensorSpec], objects: bool) -> int:
    """The instance where the instance-by-instance walk fails first, when only a value can
    be wrong (every instance has the input names and the shapes of the first); 0 otherwise,
    and the walk starts at the top.

    A value is only ever skipped past when a later one is sure to fail: the walk then raises
    at that instance, with the message it would have reached on its own.
    """
    names = sorted(specs)
    if objects:
        keys = set(names)
        if not all(type(e) is dict and e.keys() == keys and not _is_b64(e) for e in items):
            return 0
        columns = {n: [e[n] for e in items] for n in names}
    elif len(names) == 1:
        columns = {names[0]: items}
    else:
        return 0
    first = None
    for name, column in columns.items():
        try:
            shape = _dense_shape(column)
        except ServingError:
            return 0
        leaves = _regular_leaves(column, shape)
        if leaves is None:
            return 0
        bad = _first_invalid(leaves, specs[name].dtype)
        if bad is not None:
            instance = bad // max(1, len(leaves) // len(items))
            first = instance if first is None else min(first, instance)
    return first or 0


def _fast_instances(items: list, specs: Mapping[str, TensorSpec],
                    objects: bool) -> dict[str, np.ndarray] | None:
    """Row-format inputs converted a column at a time, when every instance is well formed
    (else None, and the instance-by-instance path words the first error)."""
    names = sorted(specs)
    if not objects:
        if len(names) != 1 or any(isinstance(v, dict) for v in items):
            return None
        tensor = _fast_tensor(items, specs[names[0]].dtype)
        return None if tensor is None else {names[0]: tensor}
    keys = set(names)
    if not all(type(e) is dict and e.keys() == keys and not _is_b64(e) for e in items):
        return None
    out = {}
    for name in names:
        column = [e[name] for e in items]
        if any(isinstance(v, dict) for v in column):
            return None
        tensor = _fast_tensor(column, specs[name].dtype)
        if tensor is None:
            return None
        out[name] = tensor
    return out


def _columnar(val: Any, specs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    if not isinstance(val, dict) or _is_b64(val):
        if len(specs) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        name = next(iter(specs))
        return {name: tensor_from_json(val, specs[name].dtype)}
    out = {}
    for name in sorted(specs):
        if name not in val:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        out[name] = tensor_from_json(val[name], specs[name].dtype)
    return out


def decode_predict(
    doc: Mapping[str, Any], specs: Mapping[str, TensorSpec]
) -> tuple[dict[str, np.ndarray], str]:
    """Input arrays and the request format (row or columnar) of a :predict body."""
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise invalid_argument(
            f"JSON Value: {_json_repr(doc)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if has_instances:
        items = doc["instances"]
        if not isinstance(items, list):
            raise invalid_argument(
                f"JSON Value: {_json_repr(doc)} Excepting 'instances' to be an list/array"
            )
        if not items:
            raise invalid_argument(f"JSON Value: {_json_repr(doc)} No values in 'instances' array")
        return _instances(items, specs), ROW
    if has_inputs:
        return _columnar(doc["inputs"], specs), COLUMNAR
    raise invalid_argument("Missing 'inputs' or 'instances' key")


# ----- classify / regress requests -------------------------------------------------------
def _feature_kind(feature: Any) -> str:
    return feature.WhichOneof("kind") or ""


def _kind_error(name: str, feature: Any) -> ServingError:
    kind = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(
        _feature_kind(feature), "UNKNOWN"
    )
    return invalid_argument(f"Unexpected element type in feature: {name} expecting type: {kind}")


def _add_feature_value(val: Any, name: str, feature: Any) -> None:
    kind = _feature_kind(feature)
    if val is None or isinstance(val, list) or (isinstance(val, dict) and not _is_b64(val)):
        raise invalid_argument(
            f"Feature: {name} has element with unexpected JSON type: {_json_type(val)}"
        )
    if isinstance(val, bool):
        if kind not in ("", "int64_list"):
            raise _kind_error(name, feature)
        feature.int64_list.value.append(1 if val else 0)
    elif isinstance(val, dict):
        if kind not in ("", "bytes_list"):
            raise _kind_error(name, feature)
        feature.bytes_list.value.append(_decode_b64(val))
    elif isinstance(val, str):
        if kind not in ("", "bytes_list"):
            raise _kind_error(name, feature)
        feature.bytes_list.value.append(_utf8(val))
    elif isinstance(val, float):
        if kind not in ("", "float_list"):
            raise _kind_error(name, feature)
        if not _lossless(val, 24, _FLOAT32_MAX):
            raise invalid_argument(
                f"Cannot convert JSON value: {_json_repr(val)} to float without loss of precision."
            )
        feature.float_list.value.append(val)
    else:
        if kind not in ("", "int64_list"):
            raise _kind_error(name, feature)
        if val > 2**63 - 1:
            raise invalid_argument(
                f"Feature: {name} has uint64 element. Only int64 is supported."
            )
        if val < -(2**63):
            raise invalid_argument(f"Feature: {name} has element out of the int64 range.")
        feature.int64_list.value.append(val)


def example_from_json(obj: Any, example: Any) -> None:
    """Fills a tf.Example from ``{"feature": value | [values]}`` (MakeExampleFromJsonObject)."""
    if not isinstance(obj, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {_json_type(obj)}")
    for name, content in obj.items():
        feature = example.features.feature[name]
        feature.Clear()
        for v in content if isinstance(content, list) else [content]:
            _add_feature_value(v, name, feature)


def decode_examples(doc: Mapping[str, Any], method: str) -> Any:
    """The ``tensorflow.serving.Input`` of a :classify / :regress body."""
    from tensorflow_serving.apis import input_pb2

    request_input = input_pb2.Input()
    has_context = "context" in doc
    if has_context:
        example_from_json(doc["context"], request_input.example_list_with_context.context)
    if "examples" not in doc:
        raise invalid_argument(
            f"JSON Value: {_json_repr(doc)} When method is {method}, key 'examples' is expected "
            "and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid_argument(
            f"JSON Value: {_json_repr(doc)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise invalid_argument(f"JSON Value: {_json_repr(doc)} 'examples' value is an empty array")
    target = (request_input.example_list_with_context.examples if has_context
              else request_input.example_list.examples)
    for obj in examples:
        example_from_json(obj, target.add())
    return request_input


# ----- tensors -> JSON ------------------------------------------------------------------
def format_float(x: float, double: bool = False) -> str:
    """WriteDecimal: ``%g`` if it round-trips, else max_digits10; ``.0`` for whole numbers."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "-Infinity" if x < 0 else "Infinity"
    s = f"{x:g}"
    if double:
        if float(s) != x:
            s = f"{x:.17g}"
    elif np.float32(s) != np.float32(x):
        s = f"{x:.9g}"
    if "." not in s and "e" not in s:
        s += ".0"
    return s


def _value_writer(array: np.ndarray, as_bytes: bool) -> Any:
    kind = array.dtype.kind
    if kind == "f":
        double = array.dtype == np.float64
        return lambda v: format_float(v, double)
    if kind == "b":
        return lambda v: "true" if v else "false"
    if kind in ("i", "u"):
        return str
    if as_bytes:
        return lambda v: '{"b64": "' + base64.b64encode(tensors.to_bytes(v)).decode("ascii") + '"}'
    return lambda v: json.dumps(
        tensors.to_bytes(v).decode("utf-8", errors="replace"), ensure_ascii=False
    )


def _write_nested(values: Any, write: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_write_nested(v, write) for v in values) + "]"
    return write(values)


def _tensor_json(array: np.ndarray, name: str) -> tuple[Any, Any]:
    if array.dtype.kind not in "fbiuOSU":
        raise invalid_argument(
            f"Failed to write JSON value for tensor type: {array.dtype} (output {name})"
        )
    write = _value_writer(array, array.dtype.kind in "OSU" and name.endswith("_bytes"))
    return array.tolist(), write


def encode_predict(outputs: Mapping[str, np.ndarray], fmt: str) -> str:
    """The :predict response body (MakeJsonFromTensors)."""
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if fmt == COLUMNAR:
        parts = {n: _write_nested(*_tensor_json(outputs[n], n)) for n in names}
        if len(names) == 1:
            return '{"outputs": ' + parts[names[0]] + "}"
        body = ", ".join(f"{json.dumps(n)}: {parts[n]}" for n in names)
        return '{"outputs": {' + body + "}}"
    batch = None
    for n in names:
        arr = outputs[n]
        if arr.ndim == 0:
            raise invalid_argument(f"Tensor name: {n} has no shape information ")
        if batch is not None and arr.shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {n} has inconsistent batch size: {arr.shape[0]} expecting: {batch}"
            )
        batch = arr.shape[0]
    cols = {n: _tensor_json(outputs[n], n) for n in names}
    rows = []
    for i in range(batch or 0):
        if len(names) == 1:
            values, write = cols[names[0]]
            rows.append(_write_nested(values[i], write))
        else:
            rows.append("{" + ", ".join(
                f"{json.dumps(n)}: {_write_nested(cols[n][0][i], cols[n][1])}" for n in names
            ) + "}")
    return '{"predictions": [' + ", ".join(rows) + "]}"


def encode_classification(result: Any) -> str:
    """``{"results": [[[label, score], ...], ...]}`` (MakeJsonFromClassificationResult)."""
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for c in result.classifications:
        rows.append("[" + ", ".join(
            f"[{json.dumps(cl.label)}, {format_float(cl.score)}]" for cl in c.classes
        ) + "]")
    return '{"results": [' + ", ".join(rows) + "]}"


def encode_regression(result: Any) -> str:
    """``{"results": [value, ...]}`` (MakeJsonFromRegressionResult)."""
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    return '{"results": [' + ", ".join(format_float(r.value) for r in result.regressions) + "]}"


def encode_error(message: str) -> str:
    return json.dumps({"error": message})
