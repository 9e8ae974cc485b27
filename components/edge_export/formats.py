"""Edge formats, their files, gates and export options (no heavy imports)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from dlpipe import contract

FLOAT32 = "float32"
FLOAT16 = "float16"
DYNAMIC_RANGE = "dynamic_range"
INT8 = "int8"
ONNX = "onnx"
FORMATS = (FLOAT32, FLOAT16, DYNAMIC_RANGE, INT8, ONNX)
TFLITE_FORMATS = (FLOAT32, FLOAT16, DYNAMIC_RANGE, INT8)

FILE_NAMES = {
    FLOAT32: "model_float32.tflite",
    FLOAT16: "model_float16.tflite",
    DYNAMIC_RANGE: "model_dynamic_range.tflite",
    INT8: "model_int8.tflite",
    ONNX: "model.onnx",
}
RUNTIMES = {fmt: "litert" for fmt in TFLITE_FORMATS} | {ONNX: "onnxruntime"}
INT8_IO_TYPES = ("float32", "int8", "uint8")

METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"
"""A text model's vocabulary (line n = token id n), copied from the SavedModel's assets.extra."""
USERS_FILE = contract.USERS_FILE
SIDECAR_FILES = (LABELS_FILE, VOCAB_FILE, USERS_FILE)
"""The side files an edge version carries besides the model files and metadata.json."""
REPORT_FILE = "edge_report.json"


@dataclasses.dataclass(frozen=True)
class Gate:
    """A format's acceptance test against the SavedModel.

    Attributes:
      max_abs: Largest allowed max absolute output difference (None: not checked).
      max_accuracy_drop: Largest allowed accuracy drop, as a fraction (0.01 = 1 point;
        None: not checked). Needs labels; without them only ``max_abs`` can decide.
      max_error_increase: Regressors: largest allowed increase of the mean absolute error,
        as a fraction of the SavedModel's (0.02 = 2% worse; None: not checked).
      any_of: Pass when any one check passes (default: every check must pass).

    ``max_abs`` is relative to the edge spec's ``output_scale`` (1 unless a regressor's).
    """

    max_abs: float | None = None
    max_accuracy_drop: float | None = None
    max_error_increase: float | None = None
    any_of: bool = False

    def __post_init__(self) -> None:
        if (self.max_abs is None and self.max_accuracy_drop is None
                and self.max_error_increase is None):
            raise ValueError("A gate needs max_abs, max_accuracy_drop or max_error_increase. "
                             "Received none.")
        if self.max_abs is not None and self.max_abs < 0:
            raise ValueError(f"max_abs must be >= 0. Received: max_abs={self.max_abs!r}")

    def describe(self) -> str:
        """Returns the gate as text, e.g. ``max_abs <= 1e-05``."""
        parts = []
        if self.max_abs is not None:
            parts.append(f"max_abs <= {self.max_abs:g}")
        if self.max_accuracy_drop is not None:
            parts.append(f"accuracy drop <= {100 * self.max_accuracy_drop:g} pt")
        if self.max_error_increase is not None:
            parts.append(f"MAE increase <= {100 * self.max_error_increase:g}%")
        return (" or " if self.any_of else " and ").join(parts)


INT8_PARITY = 5e-2
"""Quantized formats' (dynamic range, int8) gate for models without an accuracy
(generators: outputs in [0, 1])."""


def default_gates(recurrent: bool = False, max_accuracy_drop: float = 0.01,
                  classifier: bool = True, regressor: bool = False) -> dict[str, Gate]:
    """Returns the issue's gates: exact formats by max abs, quantized ones by the metric.

    Args:
      recurrent: The model has RNN layers: float32/ONNX tolerance 1e-4 instead of 1e-5.
      max_accuracy_drop: Accuracy drop allowed for quantized formats (fraction).
      classifier: The model has an accuracy. Without one (generators) dynamic range and int8
        are gated by parity, ``INT8_PARITY``: no accuracy drop to measure.
      regressor: The model predicts a value: quantized formats are gated by the increase of
        the mean absolute error (``max_accuracy_drop`` as a fraction of it).
    """
    exact = Gate(max_abs=1e-4 if recurrent else 1e-5)
    if regressor:
        drift = Gate(max_error_increase=max_accuracy_drop)
        return {FLOAT32: exact, ONNX: exact, DYNAMIC_RANGE: drift, INT8: drift,
                FLOAT16: Gate(max_abs=1e-2, max_error_increase=max_accuracy_drop,
                              any_of=True)}
    loose = Gate(max_abs=1e-2, max_accuracy_drop=max_accuracy_drop, any_of=True)
    return {
        FLOAT32: exact,
        ONNX: exact,
        FLOAT16: loose,
        DYNAMIC_RANGE: loose if classifier else Gate(max_abs=INT8_PARITY),
        INT8: (Gate(max_accuracy_drop=max_accuracy_drop) if classifier
               else Gate(max_abs=INT8_PARITY)),
    }


def parse_formats(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Parses ``"float32,int8"`` (or a list) into known format names, in canonical order."""
    if value is None or value == "" or value == "all":
        return FORMATS
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [s.strip() for s in items if s.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"Unknown edge formats {unknown or names!r}; expected some of {FORMATS}.")
    return tuple(f for f in FORMATS if f in names)


def parse_gate_overrides(value: str | dict[str, Any] | None) -> dict[str, Gate]:
    """Parses gate overrides, e.g. ``{"int8": {"max_accuracy_drop": 0.02}}`` (JSON or dict)."""
    if not value:
        return {}
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise ValueError(f"Gate overrides must be a JSON object. Received: {value!r}")
    gates = {}
    for fmt, fields in data.items():
        if fmt not in FORMATS:
            raise ValueError(
                f"Gate override for unknown format {fmt!r}; expected one of {FORMATS}."
            )
        known = {f.name for f in dataclasses.fields(Gate)}
        if not isinstance(fields, dict) or set(fields) - known:
            raise ValueError(
                f"Gate override for {fmt!r} must be an object with keys among {sorted(known)}. "
                f"Received: {fields!r}"
            )
        gates[fmt] = Gate(**fields)
    return gates


DEFAULT_AUTHOR = "not stated (dlpipe export-edge --author, or EdgeExport's author)"
DEFAULT_LICENSE = "not stated (dlpipe export-edge --license, or EdgeExport's license)"


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How to convert and check.

    Attributes:
      formats: Formats to produce (see ``FORMATS``).
      signature: SavedModel signature to convert.
      tflite_batch_size: Batch size fixed in the TFLite graphs (static shapes help TFLite).
      int8_io: Input/output tensor type of the int8 model: float32, int8 or uint8.
      allow_flex: Allow TF (Flex) ops in TFLite when builtins cannot express the model.
      opset: ONNX opset.
      num_parity: Eval examples the max abs difference is measured on.
      num_representative: Train examples used to calibrate int8.
      latency_runs: Timed batch-1 calls per format (after warm-up).
      max_accuracy_drop: Accuracy drop allowed for quantized formats (fraction).
      gate_overrides: Per-format gates replacing the defaults.
      edge_spec: Edge spec (``models.edge.EdgeSpec``) used when the SavedModel declares none.
      model_name: Name in each .tflite's metadata (default: the SavedModel directory's).
      model_version: Version in the metadata (the edge pusher sets the pushed version).
      author: Author in the metadata.
      license: License in the metadata.
      rgb_input: A grey image model's edge files take ``[1, H, W, 3]`` RGB (turned grey in
        the graph), as the TFLite Task Library's ImageClassifier needs.
      labels: Class names for a SavedModel that declares no edge spec.
      input_range: ``(low, high)`` of the raw input for a SavedModel that declares no edge
        spec (the image normalization in the TFLite metadata comes from it).
    """

    formats: tuple[str, ...] = FORMATS
    signature: str = "edge"
    tflite_batch_size: int = 1
    int8_io: str = "float32"
    allow_flex: bool = False
    opset: int = 17
    num_parity: int = 200
    num_representative: int = 200
    latency_runs: int = 200
    max_accuracy_drop: float = 0.01
    gate_overrides: dict[str, Gate] = dataclasses.field(default_factory=dict)
    edge_spec: Any = None
    model_name: str = ""
    model_version: str = ""
    author: str = DEFAULT_AUTHOR
    license: str = DEFAULT_LICENSE
    rgb_input: bool = False
    labels: tuple[str, ...] = ()
    input_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", parse_formats(self.formats))
        if self.int8_io not in INT8_IO_TYPES:
            raise ValueError(
                f"int8_io must be one of {INT8_IO_TYPES}. Received: int8_io={self.int8_io!r}"
            )
        if self.opset < 17:
            raise ValueError(f"opset must be >= 17. Received: opset={self.opset!r}")
        for name in ("tflite_batch_size", "num_parity", "num_representative", "latency_runs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1. Received: {name}={getattr(self, name)!r}")

    def gates(self, recurrent: bool, classifier: bool = True, regressor: bool = False
              ) -> dict[str, Gate]:
        """Returns the gate of every format: defaults, then the overrides."""
        return (default_gates(recurrent, self.max_accuracy_drop, classifier, regressor)
                | dict(self.gate_overrides))
