"""Converters: a SavedModel signature to TFLite flatbuffers and ONNX models.

Each converter raises ``FormatError`` naming the format and the cause (e.g. the TF op a
format cannot express), so the exporter can report it and go on with the other formats.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from components.edge_export import formats as fmts
from components.edge_export.signature import EdgeSignature


class FormatError(Exception):
    """One format could not be produced or checked.

    Attributes:
      format: The format name (see ``formats.FORMATS``).
      cause: One-line cause, naming the op or shape when known.
    """

    def __init__(self, fmt: str, cause: str) -> None:
        super().__init__(f"{fmt}: {cause}")
        self.format = fmt
        self.cause = cause


GREY_WEIGHTS = tuple(w / 0.9999 for w in (0.2989, 0.5870, 0.1140))
"""RGB -> grey weights: ``tf.image.rgb_to_grayscale``'s (ITU-R BT.601 luma), scaled to sum to
1 so that a grey image sent as R = G = B gives the model its own grey values."""


def edge_function(loaded: Any, sig: EdgeSignature, batch_size: int | None) -> Any:
    """Returns a ``tf.function`` of the signature with a fixed input shape and one output.

    Args:
      loaded: The loaded SavedModel.
      sig: The resolved edge signature.
      batch_size: Batch dimension to fix (None keeps it dynamic).

    Returns:
      A ``tf.function`` with an input signature, mapping the input to ``{output: tensor}``.
    """
    import tensorflow as tf

    from components.edge_export.text import compact_padding

    fn = loaded.signatures[sig.key]
    spec = tf.TensorSpec(
        [batch_size, *sig.file_shape()], tf.as_dtype(sig.input.dtype), name=sig.input.name
    )
    in_name, out_name = sig.input.name, sig.output.name
    grey = tf.constant(GREY_WEIGHTS, tf.float32)

    @tf.function(input_signature=[spec])
    def edge(x: Any) -> dict[str, Any]:
        if sig.token_padding is not None:
            x = compact_padding(x, sig.token_padding)
        if sig.rgb_from_grey:
            x = tf.reduce_sum(x * tf.cast(grey, x.dtype), axis=-1, keepdims=True)
        return {out_name: fn(**{in_name: x})[out_name]}

    return edge


def convert_tflite(
    loaded: Any,
    sig: EdgeSignature,
    fmt: str,
    options: fmts.ExportOptions,
    representative: np.ndarray | None = None,
) -> bytes:
    """Converts the signature to a TFLite flatbuffer of format ``fmt``.

    Args:
      loaded: The loaded SavedModel (keeps the variables alive for the converter).
      sig: The resolved edge signature.
      fmt: One of ``formats.TFLITE_FORMATS``.
      options: Export options (batch size, int8 input/output type, Flex).
      representative: For int8, calibration inputs of shape ``[N, *example_shape]``.

    Returns:
      The flatbuffer bytes.

    Raises:
      FormatError: The signature, the data or an op cannot be expressed in ``fmt``.
    """
    import tensorflow as tf

    if fmt not in fmts.TFLITE_FORMATS:
        raise ValueError(f"Not a TFLite format: {fmt!r}; expected one of {fmts.TFLITE_FORMATS}.")
    fn = edge_function(loaded, sig, options.tflite_batch_size)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [fn.get_concrete_function()], loaded
    )
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if fmt == fmts.FLOAT16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif fmt == fmts.DYNAMIC_RANGE:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif fmt == fmts.INT8:
        if representative is None or len(representative) == 0:
            raise FormatError(
                fmt, "full-integer quantization needs representative data; none given"
            )
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative_fn(representative, sig, options)
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if options.int8_io != "float32":
            io_type = tf.as_dtype(options.int8_io)
            if tf.as_dtype(sig.input.dtype).is_floating:
                converter.inference_input_type = io_type
            converter.inference_output_type = io_type
    if options.allow_flex:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter._experimental_lower_tensor_list_ops = False
    converter.target_spec.supported_ops = ops
    try:
        return converter.convert()
    except Exception as e:  # noqa: BLE001 - converter errors come as several types.
        raise FormatError(fmt, explain_tflite_error(str(e), options.allow_flex)) from e


def _representative_fn(data: np.ndarray, sig: EdgeSignature, options: fmts.ExportOptions) -> Any:
    batch = options.tflite_batch_size
    dtype = np.dtype(sig.input.dtype)
    spec = sig.spec
    if options.int8_io != "float32" and spec is not None and spec.input_range:
        # Calibrate on the whole declared range too: the integer input then maps 0..255
        # (uint8) linearly onto it, which is what an app (and the Task Library) feeds.
        low, high = spec.input_range
        ends = np.stack([np.full(data.shape[1:], low), np.full(data.shape[1:], high)])
        data = np.concatenate([np.repeat(ends, batch, axis=0), data])

    def gen() -> Iterator[list[np.ndarray]]:
        for i in range(0, len(data) - batch + 1, batch):
            yield [data[i : i + batch].astype(dtype)]

    return gen


def explain_tflite_error(text: str, allow_flex: bool) -> str:
    """Turns a TFLite converter error into one line naming the ops it could not express."""
    ops = re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)
    select = re.search(r"TF Select ops: ([\w, ]+)", text)
    if select:
        ops += [s.strip() for s in select.group(1).split(",")]
    ops = sorted(set(ops))
    if "Lowering tensor list ops is failed" in text or "TensorListReserve" in text:
        return (
            "tensor list ops (tf.TensorListReserve & co, from a tf.while_loop such as a "
            "non-unrolled Keras LSTM/GRU) have no TFLite builtin form; export the edge "
            "signature with the RNN unrolled at a fixed length "
            "(models.edge.unroll_recurrent_layers) or allow Flex ops"
        )
    if ops:
        flex = "" if allow_flex else "; allowing Flex (SELECT_TF_OPS) would embed them as TF ops"
        return f"ops not expressible as TFLite builtins: {', '.join(ops)}{flex}"
    if "quantiz" in text.lower() and "int8" in text.lower():
        return "full-integer quantization failed: " + _last_error_line(text)
    return _last_error_line(text)


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if "error" in ln.lower()]
    line = lines[-1] if lines else text.strip().splitlines()[-1] if text.strip() else ""
    return line[:300] or "conversion failed without a message"


class _OpCollector(logging.Handler):
    """Collects the op names tf2onnx logs as unsupported."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.ops: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        m = re.search(r"Tensorflow op \[.*?: (\w+)\] is not supported", record.getMessage())
        if m:
            self.ops.append(m.group(1))


def convert_onnx(loaded: Any, sig: EdgeSignature, options: fmts.ExportOptions) -> bytes:
    """Converts the signature to an ONNX model (dynamic batch) with tf2onnx.

    Returns:
      The serialized ModelProto, checked by ``onnx.checker`` and loadable by ONNX Runtime.

    Raises:
      FormatError: tf2onnx cannot express an op, or the result does not load.
    """
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # Freeze first: tf2onnx's from_function keeps captured non-variable tensors (e.g. the
    # min/max constants of a tf.Transform layer) as extra graph inputs.
    concrete = edge_function(loaded, sig, None).get_concrete_function()
    try:
        frozen = convert_variables_to_constants_v2(
            concrete, lower_control_flow=False, aggressive_inlining=True
        )
    except Exception as e:  # noqa: BLE001 - freezing raises several types.
        cause = f"cannot freeze the signature: {_last_error_line(str(e))}"
        raise FormatError(fmts.ONNX, cause) from e
    inputs = [t.name for t in frozen.inputs if t.dtype != tf.resource]
    outputs = [t.name for t in frozen.outputs]
    if len(inputs) != 1:
        raise FormatError(
            fmts.ONNX, f"the frozen signature has inputs {inputs}; edge formats need exactly one"
        )
    collector = _OpCollector()
    tf2onnx_logger = logging.getLogger("tf2onnx")
    tf2onnx_logger.addHandler(collector)
    try:
        model_proto, _ = tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(add_shapes=True),
            input_names=inputs,
            output_names=outputs,
            opset=options.opset,
            tensors_to_rename={inputs[0]: sig.input.name, outputs[0]: sig.output.name},
        )
    except Exception as e:  # noqa: BLE001 - tf2onnx raises many types.
        raise FormatError(fmts.ONNX, f"tf2onnx failed: {_last_error_line(str(e))}") from e
    finally:
        tf2onnx_logger.removeHandler(collector)
    if collector.ops:
        raise FormatError(
            fmts.ONNX,
            f"ops tf2onnx cannot express in ONNX opset {options.opset}: "
            f"{', '.join(sorted(set(collector.ops)))}",
        )
    graph_inputs = [i.name for i in model_proto.graph.input]
    if graph_inputs != [sig.input.name]:
        raise FormatError(
            fmts.ONNX,
            f"the ONNX graph has inputs {graph_inputs}; expected only {sig.input.name!r}",
        )
    data = model_proto.SerializeToString()
    try:
        onnx.checker.check_model(model_proto)
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - checker and runtime raise their own types.
        m = re.search(r"No Op registered for (\w+)", str(e))
        cause = f"op {m.group(1)} has no ONNX Runtime kernel" if m else _last_error_line(str(e))
        raise FormatError(fmts.ONNX, f"the converted model does not load: {cause}") from e
    return data
