"""Reading the operator list of a TFLite flatbuffer (to prove builtin-only models)."""

from __future__ import annotations

import functools


@functools.cache
def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def op_names(model: bytes) -> list[str]:
    """Returns the sorted operator names of a TFLite model.

    Builtin ops come by their enum name (``FULLY_CONNECTED``); custom ops by their custom
    code; TF ops run through the Flex delegate come as ``Flex<TfOpName>``.
    """
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAsModel(bytearray(model), 0)
    names = set()
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        custom = code.CustomCode()
        if custom:
            names.add(custom.decode())
            continue
        # Codes above 127 live only in the newer field; older ones in both.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        names.add(_builtin_names().get(builtin, f"BUILTIN_{builtin}"))
    return sorted(names)


def flex_ops(names: list[str]) -> list[str]:
    """The Flex (TF select) ops among ``names``."""
    return [n for n in names if n.startswith("Flex")]


def non_builtin_ops(names: list[str]) -> list[str]:
    """Flex and custom ops among ``names``: what the plain TFLite runtime cannot run."""
    builtins = set(_builtin_names().values())
    return [n for n in names if n not in builtins]


def buffer_bytes(model: bytes) -> int:
    """Bytes of constant data (weights, biases) in a TFLite model, without the graph around it."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAsModel(bytearray(model), 0)
    metadata = {root.Metadata(i).Buffer() for i in range(root.MetadataLength())}
    return sum(
        root.Buffers(i).DataLength() for i in range(root.BuffersLength()) if i not in metadata
    )
