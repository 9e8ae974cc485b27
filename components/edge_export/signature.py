"""Loading a SavedModel and resolving the signature the edge formats are built from."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dlpipe.errors import DlpipeError
from models import edge as edge_lib


class NotASavedModelError(DlpipeError):
    """The model directory holds no SavedModel."""


class SignatureError(ValueError):
    """The signature cannot feed an edge format (the message says why)."""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """Name, shape (None for unknown sizes; None overall for unknown rank) and dtype."""

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str


@dataclasses.dataclass(frozen=True)
class EdgeSignature:
    """The signature to convert, with what the model declared about it.

    Attributes:
      key: Signature key in the SavedModel.
      input: Its single input, as the signature declares it.
      output: The output the edge formats return.
      spec: The model's ``EdgeSpec`` (None if the SavedModel declares none).
      all_outputs: Names of every output of the signature.
      token_padding: A dlpipe text model's padding id: the edge files move padding ids to
        the front first (``text.compact_padding``), so back-padded ids (the TFLite Task
        Library's) mean what front-padded ones do. None: not such a model.
      rgb_from_grey: The edge files take ``[H, W, 3]`` RGB and turn it into the model's one
        grey channel (``ExportOptions.rgb_input``).
    """

    key: str
    input: TensorInfo
    output: TensorInfo
    spec: edge_lib.EdgeSpec | None
    all_outputs: tuple[str, ...]
    token_padding: int | None = None
    rgb_from_grey: bool = False

    @property
    def recurrent(self) -> bool:
        return bool(self.spec and self.spec.recurrent)

    @property
    def is_classifier(self) -> bool:
        if self.spec is not None:
            return self.spec.task == "classification"
        return self.output.name in ("probabilities", "logits", "scores")

    def example_shape(self) -> tuple[int, ...]:
        """Fixed per-example input shape (no batch), from the signature or the spec.

        Raises:
          SignatureError: The rank or a non-batch size is unknown and no spec fixes it.
        """
        shape = self.input.shape
        if shape is not None and all(d is not None for d in shape[1:]):
            return tuple(int(d) for d in shape[1:])
        if self.spec is not None:
            return self.spec.input_shape
        what = "unknown rank" if shape is None else f"shape {list(shape)} (a variable size)"
        raise SignatureError(
            f"input {self.input.name!r} of signature {self.key!r} has {what}; edge formats "
            "need a fixed shape: declare it in the signature's TensorSpec or in the model's "
            "EdgeSpec (models/edge.py)"
        )


    def file_shape(self) -> tuple[int, ...]:
        """Per-example input shape of the edge files: ``example_shape``, with 3 channels
        when they take RGB for a grey model."""
        shape = self.example_shape()
        return (*shape[:-1], 3) if self.rgb_from_grey else shape

    def file_inputs(self, x: Any) -> Any:
        """Numpy inputs of the signature as the edge files take them (grey -> RGB)."""
        import numpy as np

        return np.repeat(x, 3, axis=-1) if self.rgb_from_grey else x


def is_saved_model_dir(path: str | Path) -> bool:
    """True if ``path`` is a directory holding saved_model.pb or saved_model.pbtxt."""
    p = Path(path)
    return (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file()


def load_saved_model(model_dir: str | Path) -> Any:
    """Loads a SavedModel, or raises ``NotASavedModelError`` naming what was found."""
    path = Path(model_dir)
    if not path.is_dir():
        raise NotASavedModelError(f"model directory {str(path)!r} does not exist")
    if not is_saved_model_dir(path):
        hint = ""
        if (path / "Format-Serving").is_dir():
            hint = f"; did you mean {str(path / 'Format-Serving')!r}?"
        found = sorted(p.name for p in path.iterdir())[:5]
        raise NotASavedModelError(
            f"{str(path)!r} is not a SavedModel: expected saved_model.pb in it "
            f"(written by tf.saved_model.save or model.export), found {found}{hint}"
        )
    import tensorflow as tf

    try:
        return tf.saved_model.load(str(path))
    except Exception as e:  # noqa: BLE001 - the cause is reported, whatever TF raised.
        raise NotASavedModelError(f"cannot load SavedModel {str(path)!r}: {_first_line(e)}") from e


def resolve_signature(
    loaded: Any,
    model_dir: str | Path,
    key: str = edge_lib.EDGE_SIGNATURE,
    fallback_spec: edge_lib.EdgeSpec | None = None,
) -> EdgeSignature:
    """Finds signature ``key`` of a loaded SavedModel and checks it can feed edge formats.

    The model's own edge spec (``assets.extra/edge_spec.json``) wins over ``fallback_spec``.

    Raises:
      SignatureError: The signature is missing, has not exactly one input, or takes strings.
    """
    signatures = dict(loaded.signatures)
    if key not in signatures:
        raise SignatureError(
            f"the SavedModel has no signature {key!r}; it has {sorted(signatures)}"
        )
    fn = signatures[key]
    inputs = fn.structured_input_signature[1]
    if len(inputs) != 1:
        raise SignatureError(
            f"signature {key!r} has inputs {sorted(inputs)}; edge formats need exactly one"
        )
    ((in_name, in_spec),) = inputs.items()
    if in_spec.dtype.name == "string":
        raise SignatureError(
            f"input {in_name!r} of signature {key!r} is a string tensor; raw strings cannot "
            "enter TFLite builtins: declare a numeric edge signature (e.g. token ids)"
        )
    outputs = fn.structured_outputs
    spec = edge_lib.read_edge_spec(model_dir) or fallback_spec
    out_name = _pick_output(outputs, spec, key)
    out_spec = outputs[out_name]
    from components.edge_export.text import PAD_ID, dlpipe_vocab

    in_shape = _shape(in_spec.shape)
    tokens = (in_spec.dtype.name == "int32" and in_shape is not None and len(in_shape) == 2
              and dlpipe_vocab(model_dir) is not None)
    return EdgeSignature(
        key=key,
        input=TensorInfo(in_name, in_shape, in_spec.dtype.name),
        output=TensorInfo(out_name, _shape(out_spec.shape), out_spec.dtype.name),
        spec=spec,
        all_outputs=tuple(sorted(outputs)),
        token_padding=PAD_ID if tokens else None,
    )


def _pick_output(outputs: dict[str, Any], spec: edge_lib.EdgeSpec | None, key: str) -> str:
    if spec is not None:
        if spec.output_name not in outputs:
            raise SignatureError(
                f"the edge spec names output {spec.output_name!r} but signature {key!r} "
                f"returns {sorted(outputs)}"
            )
        return spec.output_name
    if len(outputs) == 1:
        return next(iter(outputs))
    if "probabilities" in outputs:
        return "probabilities"
    raise SignatureError(
        f"signature {key!r} returns {sorted(outputs)}; edge formats need one output: "
        "name it in an EdgeSpec (models/edge.py)"
    )


def _shape(shape: Any) -> tuple[int | None, ...] | None:
    return None if shape.rank is None else tuple(shape.as_list())


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]
