"""numpy arrays <-> ``tensorflow.TensorProto`` without calling TensorFlow ops.

``tf.make_tensor_proto`` / ``tf.make_ndarray`` cost tens of microseconds per call and pull
in the TF runtime; the server converts every request and response, so it does it here.
Numeric tensors are written as ``tensor_content`` (what TF Serving emits too); reading
accepts both ``tensor_content`` and the typed ``*_val`` fields, including TF's rule that a
shorter value list is padded with its last value.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving.errors import invalid_argument

# DataType -> (numpy dtype, TensorProto value field, TF's DataTypeString name)
_DTYPES: dict[int, tuple[Any, str, str]] = {
    types_pb2.DT_FLOAT: (np.float32, "float_val", "float"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val", "double"),
    types_pb2.DT_INT32: (np.int32, "int_val", "int32"),
    types_pb2.DT_UINT8: (np.uint8, "int_val", "uint8"),
    types_pb2.DT_INT16: (np.int16, "int_val", "int16"),
    types_pb2.DT_INT8: (np.int8, "int_val", "int8"),
    types_pb2.DT_UINT16: (np.uint16, "int_val", "uint16"),
    types_pb2.DT_STRING: (object, "string_val", "string"),
    types_pb2.DT_INT64: (np.int64, "int64_val", "int64"),
    types_pb2.DT_BOOL: (np.bool_, "bool_val", "bool"),
    types_pb2.DT_HALF: (np.float16, "half_val", "half"),
    types_pb2.DT_UINT32: (np.uint32, "uint32_val", "uint32"),
    types_pb2.DT_UINT64: (np.uint64, "uint64_val", "uint64"),
}
_NP_TO_DT = {np.dtype(v[0]): k for k, v in _DTYPES.items() if v[0] is not object}
# Numeric dtypes whose tensor_content bytes are the native layout (little-endian hosts).
_LITTLE_ENDIAN_DTYPES = {k: np.dtype(v[0]) for k, v in _DTYPES.items()
                         if v[0] is not object and k != types_pb2.DT_HALF} \
    if sys.byteorder == "little" else {}


def dtype_name(dtype: int) -> str:
    """TF's ``DataTypeString``: ``float``, ``int64``, ``string``..."""
    entry = _DTYPES.get(dtype)
    if entry:
        return entry[2]
    return types_pb2.DataType.Name(dtype)[3:].lower() if dtype in types_pb2.DataType.values() \
        else f"<unknown dtype {dtype}>"


def numpy_dtype(dtype: int) -> Any:
    """numpy dtype of a TF DataType (``object`` for strings)."""
    try:
        return _DTYPES[dtype][0]
    except KeyError:
        raise invalid_argument(f"Unsupported tensor dtype: {dtype_name(dtype)}") from None


def tf_dtype(array: np.ndarray) -> int:
    """TF DataType of a numpy array (bytes/str/object arrays are DT_STRING)."""
    if array.dtype.kind in ("O", "S", "U"):
        return types_pb2.DT_STRING
    try:
        return _NP_TO_DT[array.dtype]
    except KeyError:
        raise invalid_argument(f"Unsupported numpy dtype: {array.dtype}") from None


def shape_proto(shape: tuple[int | None, ...] | None) -> tensor_shape_pb2.TensorShapeProto:
    """A TensorShapeProto; ``None`` dimensions are -1, a ``None`` shape is unknown rank."""
    proto = tensor_shape_pb2.TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
        return proto
    for d in shape:
        proto.dim.add(size=-1 if d is None else int(d))
    return proto


def to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.bytes_):
        return bytes(value)
    raise invalid_argument(f"String tensors hold bytes or str. Received: {type(value).__name__}")


def make_tensor_proto(value: Any, dtype: int | None = None) -> tensor_pb2.TensorProto:
    """Encodes an array-like as a TensorProto (numeric: ``tensor_content``)."""
    proto = tensor_pb2.TensorProto()
    fill_tensor_proto(proto, value, dtype)
    return proto


def fill_tensor_proto(proto: tensor_pb2.TensorProto, value: Any,
                      dtype: int | None = None) -> None:
    """Encodes an array-like into an empty TensorProto, e.g. a response's output map entry
    (no intermediate message to copy)."""
    if dtype is not None and dtype != types_pb2.DT_STRING:
        array = np.asarray(value, dtype=numpy_dtype(dtype))
    else:
        array = np.asarray(value)
        if array.dtype.kind == "U":
            array = array.astype(object)
    dt = tf_dtype(array) if dtype is None else dtype
    proto.dtype = dt
    for d in array.shape:
        proto.tensor_shape.dim.add(size=d)
    if dt == types_pb2.DT_STRING:
        proto.string_val.extend(to_bytes(v) for v in array.reshape(-1))
    elif dt == types_pb2.DT_HALF:
        proto.half_val.extend(array.astype(np.float16).view(np.uint16).reshape(-1).tolist())
    elif _LITTLE_ENDIAN_DTYPES and array.dtype.byteorder != ">":  # already little-endian
        proto.tensor_content = array.tobytes()
    else:
        proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")) \
            .tobytes()


MAX_RANK = 32
"""Most dimensions a request tensor may have (numpy's limit; TF's own is 254)."""
MAX_PADDED_ELEMENTS = 1 << 20
"""Most elements a tensor sent with fewer values than its shape may be padded to.

TF reads a ``*_val`` list shorter than the shape by repeating the last value; a 38-byte
request declaring ``dim [2**26]`` with one float would make the server allocate 256 MiB.
Past this many elements the values must be sent (or as ``tensor_content``)."""
_INT64_MAX = 2**63 - 1


def _checked_shape(proto: tensor_pb2.TensorProto) -> tuple[tuple[int, ...], int]:
    """The shape and element count a TensorProto declares, checked before any allocation."""
    if proto.tensor_shape.unknown_rank:
        raise invalid_argument("Tensor shape must have a known rank")
    dims = proto.tensor_shape.dim
    if len(dims) > MAX_RANK:
        raise invalid_argument(
            f"tensor parsing error: the shape has {len(dims)} dimensions; at most {MAX_RANK} "
            "are supported"
        )
    shape = tuple(int(d.size) for d in dims)
    if any(d < 0 for d in shape):
        raise invalid_argument(f"Tensor shape has a negative dimension: {list(shape)}")
    # TF's rule (TensorShape::AddDim): the running product of the dimensions must fit int64;
    # numpy's: the non-zero dimensions times 8 bytes must too, even for an empty array.
    size, nonzero = 1, 1
    for d in shape:  # Python ints: an overflow is caught, not wrapped
        size *= d
        nonzero *= d or 1
        if size > _INT64_MAX or nonzero * 8 > _INT64_MAX:
            raise invalid_argument(
                f"tensor parsing error: shape {list(shape)} has more elements than a tensor "
                "can hold (2**63 - 1 elements, 2**63 - 1 bytes)"
            )
    return shape, size


def make_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decodes a TensorProto to a numpy array (strings: an object array of bytes).

    The declared shape is checked against the content before anything is allocated, so
    the memory a request costs is bounded by its own size (and ``MAX_PADDED_ELEMENTS``).

    Raises:
      ServingError: INVALID_ARGUMENT for an unsupported dtype or inconsistent content.
    """
    fast = _LITTLE_ENDIAN_DTYPES.get(proto.dtype)
    content = proto.tensor_content
    if fast is not None and content and not proto.tensor_shape.unknown_rank:
        # The common case (numeric tensor_content, as every TF client sends): when the
        # shape's element count matches the bytes sent, the shape is valid and bounded by
        # the message, so the checks below can be skipped.
        shape = tuple(d.size for d in proto.tensor_shape.dim)
        if len(shape) <= MAX_RANK and min(shape, default=0) >= 0 and \
                math.prod(shape) * fast.itemsize == len(content):
            return np.frombuffer(content, dtype=fast).reshape(shape)
    shape, size = _checked_shape(proto)
    np_dtype, field, _ = _DTYPES.get(proto.dtype, (None, "", ""))
    if np_dtype is None:
        raise invalid_argument(f"tensor parsing error: unsupported dtype {dtype_name(proto.dtype)}")
    if proto.tensor_content:
        if np_dtype is object:
            raise invalid_argument("tensor parsing error: string tensors cannot use tensor_content")
        dt = np.dtype(np_dtype).newbyteorder("<")
        if len(proto.tensor_content) != size * dt.itemsize:
            raise invalid_argument(
                f"tensor parsing error: tensor_content holds {len(proto.tensor_content)} bytes, "
                f"shape {list(shape)} of {dtype_name(proto.dtype)} needs {size * dt.itemsize}"
            )
        return np.frombuffer(proto.tensor_content, dtype=dt).astype(np_dtype).reshape(shape)
    values = getattr(proto, field)
    n = len(values)
    if n > size:
        raise invalid_argument(
            f"tensor parsing error: {n} values for shape {list(shape)} ({size} elements)"
        )
    if n < size and size > MAX_PADDED_ELEMENTS:
        raise invalid_argument(
            f"tensor parsing error: shape {list(shape)} needs {size} values but {n} were sent; "
            f"a shorter {field} list is padded with its last value only up to "
            f"{MAX_PADDED_ELEMENTS} elements. Send every value (or tensor_content)."
        )
    if np_dtype is object:
        flat = np.empty(n, dtype=object)
        flat[:] = list(values)
    elif proto.dtype == types_pb2.DT_HALF:  # half_val holds the bit patterns as int32
        flat = np.asarray(values, dtype=np.int64).astype(np.uint16).view(np.float16)
    elif field == "int_val" and np_dtype is not np.int32:  # uint8/int8/int16/uint16: TF casts
        flat = np.asarray(values, dtype=np.int64).astype(np_dtype)
    else:
        flat = np.asarray(values, dtype=np_dtype)
    if n == size:
        return flat.reshape(shape)
    if np_dtype is object:
        out = np.empty(size, dtype=object)
        out[:] = flat[-1] if n else b""
    else:
        out = np.full(size, flat[-1] if n else 0, dtype=np_dtype)
    out[:n] = flat
    return out.reshape(shape)
