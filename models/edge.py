"""Edge signatures: how a model declares what its edge formats (TFLite, ONNX) take and return.

Every model in the zoo exports a SavedModel with an ``edge`` signature: one fixed-rank,
numeric input (raw strings cannot enter TFLite builtins) and one output. Its preprocessing
(e.g. pixel scaling) lives inside the graph, so an app feeds the same raw values a REST
client sends. Beside the graph, ``assets.extra/edge_spec.json`` records what the graph
cannot say: labels, the input's raw range, what the output means, whether the model has
recurrent layers (a looser parity tolerance). The edge exporter reads both.

Recurrent layers: a Keras 3 LSTM/GRU runs a ``tf.while_loop`` over TensorLists that the
TFLite converter cannot lower to builtin ops. ``unroll_recurrent_layers`` clones a model with
``unroll=True`` (same weights) so the edge signature of a fixed-length model converts to
builtin ops only, while ``serving_default`` keeps the looped graph.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlpipe.contract import (  # noqa: F401 - the names edge signatures are built with
    CLASS_ID_OUTPUT,
    CLASSIFY_SIGNATURE,
    EDGE_SIGNATURE,
    SERVING_SIGNATURE,
)

SERIALIZED_EXAMPLE = "__serialized_example__"
"""Reserved ``EdgeSpec.example_feature``: the whole serialized tf.Example, for models whose
edge input a signature builds from several features (tabular: ``transform_features``)."""
EDGE_SPEC_FILE = "assets.extra/edge_spec.json"
"""Where the edge spec sits inside a SavedModel directory."""

TASKS = ("classification", "regression", "generation", "embedding", "retrieval")
INPUT_SOURCES = ("examples", "normal")


@dataclasses.dataclass(frozen=True)
class EdgeSpec:
    """What a model's edge signature takes and returns, beyond its tensor specs.

    Attributes:
      input_name: Name of the single input of the ``edge`` signature.
      input_shape: Input shape without the batch dimension; every entry fixed.
      input_dtype: Input dtype name (``float32``, ``int32`` ...).
      output_name: Name of the output the edge formats return.
      task: One of ``TASKS``; ``classification`` enables the accuracy metric.
      labels: Class names in output order (classification only).
      input_range: ``(low, high)`` of the raw input values, e.g. ``(0, 16)`` for digits.
      normalization: What the graph does to the raw input, for app developers.
      output_meaning: What the output values are, for app developers.
      recurrent: The model has recurrent layers (parity tolerance 1e-4 instead of 1e-5).
      output_scale: The output's typical size (a regressor's label standard deviation in
        label units; 1 for probabilities and pixels): parity gates compare
        max |diff| / output_scale, so they mean the same for grams and probabilities.
      needs_flex: The model truly needs TF (Flex) ops in TFLite; declared, not guessed.
      input_source: Where edge inputs for calibration and parity come from: ``examples``
        (the examples' feature ``example_feature``) or ``normal`` (standard normal samples:
        a generator's noise input).
      example_feature: Example feature holding the raw input (default: ``input_name``).
      example_signature: SavedModel signature mapping ``example_feature``'s raw values to
        the edge input (e.g. a text model's ``tokenize``: strings -> token ids); empty: the
        raw values are the edge input.
    """

    input_name: str
    input_shape: tuple[int, ...]
    input_dtype: str = "float32"
    output_name: str = "probabilities"
    task: str = "classification"
    labels: tuple[str, ...] = ()
    input_range: tuple[float, float] | None = None
    normalization: str = ""
    output_meaning: str = ""
    recurrent: bool = False
    output_scale: float = 1.0
    needs_flex: bool = False
    input_source: str = "examples"
    example_feature: str = ""
    example_signature: str = ""

    def __post_init__(self) -> None:
        shape = tuple(self.input_shape)
        if not shape or any(not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(
                "input_shape must be a non-empty tuple of fixed positive sizes (no batch "
                f"dimension). Received: input_shape={self.input_shape!r}"
            )
        if self.input_source not in INPUT_SOURCES:
            raise ValueError(f"input_source must be one of {INPUT_SOURCES}. Received: "
                             f"input_source={self.input_source!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}. Received: task={self.task!r}")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        if self.input_range is not None:
            object.__setattr__(self, "input_range", tuple(float(x) for x in self.input_range))

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EdgeSpec:
        """Builds a spec from ``to_dict`` output; unknown keys fail with their names."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown edge spec keys {unknown}; expected some of {sorted(known)}.")
        return cls(**data)


def write_edge_spec(export_dir: str | Path, spec: EdgeSpec) -> Path:
    """Writes ``spec`` into a SavedModel directory, as ``assets.extra/edge_spec.json``."""
    path = Path(export_dir) / EDGE_SPEC_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    return path


def read_edge_spec(export_dir: str | Path) -> EdgeSpec | None:
    """Reads the edge spec of a SavedModel, or returns None if it declares none."""
    path = Path(export_dir) / EDGE_SPEC_FILE
    if not path.is_file():
        return None
    return EdgeSpec.from_dict(json.loads(path.read_text()))


def has_recurrent_layers(model: Any) -> bool:
    """Whether ``model`` contains an RNN layer (LSTM, GRU, ... including inside wrappers)."""
    return any("unroll" in layer.get_config() for layer in model._flatten_layers())


def unroll_recurrent_layers(model: Any) -> Any:
    """Clones a functional/sequential Keras model with every RNN layer unrolled.

    The clone shares nothing with ``model`` but holds the same weights, so its outputs
    match. It needs a fixed sequence length (unrolling builds one step per time step).

    Args:
      model: A ``keras.Model`` (functional or sequential).

    Returns:
      The unrolled clone, or ``model`` itself if it has no recurrent layer.
    """
    import keras

    def clone_layer(layer: Any) -> Any:
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN) or "unroll" in config:
            config["unroll"] = True
        for key in ("layer", "backward_layer"):  # Bidirectional holds its RNNs' configs
            if "unroll" in (config.get(key) or {}).get("config", {}):
                config[key]["config"]["unroll"] = True
        return layer.__class__.from_config(config)

    if not has_recurrent_layers(model):
        return model
    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone


def export_with_edge_signatures(
    export_dir: str | Path,
    model: Any,
    spec: EdgeSpec,
    preprocess: Callable[[Any], Any] | None = None,
    edge_model: Any | None = None,
    trackables: dict[str, Any] | None = None,
) -> Path:
    """Saves ``model`` as a SavedModel with ``edge``, ``serving_default`` and ``classify``.

    ``edge`` and ``serving_default`` take the raw input ``spec.input_name`` of shape
    ``[None, *spec.input_shape]``; ``classify`` takes serialized tf.Example strings
    (``inputs``) whose feature ``spec.input_name`` holds the flattened raw input.
    ``preprocess`` (e.g. the pixel scaling) runs inside every signature, so all clients
    send raw values.

    Args:
      export_dir: Directory to write (created).
      model: A trained ``keras.Model`` mapping preprocessed input to ``spec.output_name``.
      spec: The model's edge spec; also written to ``assets.extra/edge_spec.json``.
      preprocess: Optional TF function applied to the raw input in the graph.
      edge_model: Model used by the ``edge`` signature (default: ``model`` with recurrent
        layers unrolled, see ``unroll_recurrent_layers``).
      trackables: Objects ``preprocess`` uses that own variables or resources (e.g. the
        tf.Transform layer), attached to the saved module by name so they are saved.

    Returns:
      The export directory.
    """
    import tensorflow as tf

    edge_model = edge_model if edge_model is not None else unroll_recurrent_layers(model)
    dtype = tf.as_dtype(spec.input_dtype)
    raw_spec = tf.TensorSpec([None, *spec.input_shape], dtype, name=spec.input_name)
    flat_size = 1
    for d in spec.input_shape:
        flat_size *= d

    module = tf.Module()
    module.model = model
    module.edge_model = edge_model
    for name, trackable in (trackables or {}).items():
        setattr(module, name, trackable)

    def forward(net: Any, raw: Any) -> Any:
        x = preprocess(raw) if preprocess is not None else raw
        return net(x, training=False)

    @tf.function(input_signature=[raw_spec])
    def edge(x: Any) -> dict[str, Any]:
        return {spec.output_name: forward(module.edge_model, x)}

    @tf.function(input_signature=[raw_spec])
    def serving(x: Any) -> dict[str, Any]:
        out = forward(module.model, x)
        result = {spec.output_name: out}
        if spec.task == "classification":
            result[CLASS_ID_OUTPUT] = tf.argmax(out, axis=-1, output_type=tf.int64)
        return result

    example_dtype = tf.float32 if dtype.is_floating else tf.int64

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs: Any) -> dict[str, Any]:
        parsed = tf.io.parse_example(
            inputs, {spec.input_name: tf.io.FixedLenFeature([flat_size], example_dtype)}
        )
        raw = tf.reshape(tf.cast(parsed[spec.input_name], dtype), [-1, *spec.input_shape])
        scores = forward(module.model, raw)
        if spec.task != "classification":
            return {spec.output_name: scores}
        if spec.labels:
            names = tf.constant(list(spec.labels))
        else:
            names = tf.as_string(tf.range(tf.shape(scores)[-1]))
        classes = tf.broadcast_to(names, tf.shape(scores))
        return {"classes": classes, "scores": scores}

    signatures = {
        EDGE_SIGNATURE: edge.get_concrete_function(),
        SERVING_SIGNATURE: serving.get_concrete_function(),
        CLASSIFY_SIGNATURE: classify.get_concrete_function(),
    }
    from models import export

    export_dir = Path(export_dir)
    method = export.CLASSIFY_METHOD if spec.task == "classification" else export.REGRESS_METHOD
    export.save_with_signatures(
        module, export_dir, signatures, method_names={CLASSIFY_SIGNATURE: method}
    )
    write_edge_spec(export_dir, spec)
    return export_dir
