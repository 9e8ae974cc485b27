"""Typed pipeline configuration: dataclasses, file loading, overrides, validation.

A config is loaded from a YAML or TOML file (the defaults live in ``pipeline/configs/``)
and then patched with ``key=value`` overrides. Every key is checked against the
dataclasses below when the file is loaded, so a typo or a wrong type fails before
anything runs, with the key, the value received and what was expected.

This module imports nothing heavy: ``dlpipe --help`` and config errors stay fast.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits_cnn.yaml"


class ConfigError(ValueError):
    """A config file or override that does not match the schema."""


def _field(default: Any, help: str, **kwargs: Any) -> Any:
    factory = kwargs.pop("default_factory", None)
    meta = {"help": help, **kwargs}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    kind: str = _field(
        "sklearn_digits",
        "Where examples come from: 'sklearn_digits' (bundled 8x8 digits, written as "
        "tf.Example TFRecords) or 'tfrecord' (a directory of tf.Example TFRecord files).",
        choices=("sklearn_digits", "tfrecord"),
    )
    path: str = _field(
        "",
        "Input directory. For 'sklearn_digits' it is where the TFRecords are written "
        "(default: <output_root>/data/<kind>); for 'tfrecord' it must hold *.tfrecord or "
        "*.tfrecord.gz files.",
    )
    train_buckets: int = _field(4, "Hash buckets assigned to the train split.", minimum=1)
    eval_buckets: int = _field(1, "Hash buckets assigned to the eval split.", minimum=1)


@dataclasses.dataclass(frozen=True)
class ValidateConfig:
    schema_file: str = _field(
        "",
        "Curated schema (text-format tensorflow_metadata Schema); a relative path is taken "
        "from the config file's directory. Empty: SchemaGen infers the schema from the "
        "train split's statistics on every run.",
    )


@dataclasses.dataclass(frozen=True)
class TransformConfig:
    preprocessing_fn: str = _field(
        "models.digits.preprocessing.preprocessing_fn",
        "Dotted path of the tf.Transform preprocessing_fn.",
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    run_fn: str = _field(
        "models.digits.trainer.run_fn", "Dotted path of the TFX Trainer run_fn."
    )
    builder: str = _field(
        "models.cnn.build_cnn", "Dotted path of the pure model builder function."
    )
    hparams: dict = _field(
        None,
        "Keyword arguments for the builder; each key must be a parameter of it.",
        default_factory=dict,
    )
    train_steps: int = _field(300, "Training steps.", minimum=1)
    eval_steps: int = _field(10, "Validation steps after each epoch.", minimum=1)
    epochs: int = _field(3, "Epochs the training steps are spread over.", minimum=1)
    batch_size: int = _field(64, "Batch size.", minimum=1)
    learning_rate: float = _field(3e-3, "Adam learning rate.", minimum=0.0, exclusive=True)
    seed: int = _field(7, "Random seed for weights and shuffling.")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    min_accuracy: float = _field(
        0.85, "Value threshold: a model below this eval accuracy is not blessed.",
        minimum=0.0, maximum=1.0,
    )
    min_class_accuracy: float = _field(
        0.7, "Per-class value threshold: a model with any class below this is not blessed.",
        minimum=0.0, maximum=1.0,
    )
    max_accuracy_drop: float = _field(
        0.01,
        "Change threshold: a model whose accuracy is more than this below the latest "
        "blessed model's is not blessed.",
        minimum=0.0, maximum=1.0,
    )


@dataclasses.dataclass(frozen=True)
class PushConfig:
    model_name: str = _field("digits", "Name of the served model (its directory name).")
    serving_root: str = _field(
        "", "Serving root; models land in <serving_root>/<model_name>/<version>/. "
        "Default: <output_root>/serving."
    )


@dataclasses.dataclass(frozen=True)
class InfraValidateConfig:
    enabled: bool = _field(
        True, "Load the candidate in the embedded model server and query it over REST and "
        "gRPC before pushing; the Pusher requires this blessing."
    )
    num_examples: int = _field(32, "Eval examples sent to the server.", minimum=1)


@dataclasses.dataclass(frozen=True)
class EdgeConfig:
    enabled: bool = _field(True, "Convert the blessed model to TFLite/ONNX and push them.")
    formats: list = _field(
        None,
        "Formats to produce: float32, float16, dynamic_range, int8, onnx.",
        default_factory=lambda: ["float32", "float16", "dynamic_range", "int8", "onnx"],
    )
    int8_io: str = _field(
        "float32", "Tensor type of the int8 model's input and output.",
        choices=("float32", "int8", "uint8"),
    )
    max_accuracy_drop: float = _field(
        0.01, "Accuracy drop allowed for quantized formats (int8 gate).",
        minimum=0.0, maximum=1.0,
    )
    edge_root: str = _field(
        "", "Edge models land in <edge_root>/<model_name>/<version>/. "
        "Default: <output_root>/edge."
    )


@dataclasses.dataclass(frozen=True)
class BeamConfig:
    direct_num_workers: int = _field(
        1, "Workers for Beam's DirectRunner (0: one per core).", minimum=0
    )
    direct_running_mode: str = _field(
        "in_memory", "DirectRunner mode.",
        choices=("in_memory", "multi_threading", "multi_processing"),
    )
    extra_args: list = _field(
        None, "Further Beam pipeline arguments, passed as given.", default_factory=list
    )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    name: str = _field("digits_cnn", "Pipeline name (also names the MLMD context).")
    task: str = _field(
        "models.digits.features",
        "Module owning the task's facts: feature and label names, shapes, signatures.",
    )
    output_root: str = _field(
        "runs", "Directory holding the pipeline root, ML Metadata and the serving root."
    )
    enable_cache: bool = _field(True, "Reuse executions whose inputs did not change.")
    ingest: IngestConfig = _field(None, "Ingest.", default_factory=IngestConfig)
    validate: ValidateConfig = _field(None, "Validation.", default_factory=ValidateConfig)
    transform: TransformConfig = _field(None, "Transform.", default_factory=TransformConfig)
    train: TrainConfig = _field(None, "Training.", default_factory=TrainConfig)
    evaluate: EvaluateConfig = _field(None, "Evaluation.", default_factory=EvaluateConfig)
    infra_validate: InfraValidateConfig = _field(
        None, "Infra validation.", default_factory=InfraValidateConfig
    )
    push: PushConfig = _field(None, "Push.", default_factory=PushConfig)
    edge: EdgeConfig = _field(None, "Edge export.", default_factory=EdgeConfig)
    beam: BeamConfig = _field(None, "Beam options.", default_factory=BeamConfig)

    # Derived locations: one place computes them.
    @property
    def root(self) -> Path:
        return Path(self.output_root).expanduser().resolve()

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline" / self.name

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata" / f"{self.name}.sqlite"

    @property
    def serving_root(self) -> Path:
        if self.push.serving_root:
            return Path(self.push.serving_root).expanduser().resolve()
        return self.root / "serving"

    @property
    def serving_model_dir(self) -> Path:
        return self.serving_root / self.push.model_name

    @property
    def edge_root(self) -> Path:
        if self.edge.edge_root:
            return Path(self.edge.edge_root).expanduser().resolve()
        return self.root / "edge"

    @property
    def data_dir(self) -> Path:
        if self.ingest.path:
            return Path(self.ingest.path).expanduser().resolve()
        return self.root / "data" / self.ingest.kind

    def beam_args(self) -> list[str]:
        return [
            "--runner=DirectRunner",
            f"--direct_num_workers={self.beam.direct_num_workers}",
            f"--direct_running_mode={self.beam.direct_running_mode}",
            *self.beam.extra_args,
        ]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------
# Loading and validation


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_value(key: str, value: Any, f: dataclasses.Field, tp: Any) -> Any:
    """Checks one leaf value against its field's type and metadata; returns it normalised."""
    meta = f.metadata
    expected = _type_name(tp)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is dict:
        ok = isinstance(value, dict)
        expected = "a mapping"
    elif tp is list:
        ok = isinstance(value, list)
        expected = "a list"
    else:  # pragma: no cover - a schema bug, not a user error
        raise TypeError(f"Unsupported config field type {tp!r} for {key}")
    if not ok:
        raise ConfigError(
            f"Config key '{key}' must be {expected}. Received: {key}={value!r} "
            f"({type(value).__name__})."
        )
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            f"Config key '{key}' must be one of {', '.join(map(repr, choices))}. "
            f"Received: {key}={value!r}."
        )
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if lo is not None and (value < lo or (meta.get("exclusive") and value == lo)):
        op = ">" if meta.get("exclusive") else ">="
        raise ConfigError(f"Config key '{key}' must be {op} {lo}. Received: {key}={value!r}.")
    if hi is not None and value > hi:
        raise ConfigError(f"Config key '{key}' must be <= {hi}. Received: {key}={value!r}.")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "the config file"
    if not isinstance(data, dict):
        raise ConfigError(
            f"'{where}' must be a mapping of keys to values. Received: {data!r}."
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(
            f"Unknown config key '{key}'. Expected one of: {', '.join(sorted(fields))}"
            f"{' under ' + repr(prefix) if prefix else ''}."
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key)
        else:
            kwargs[name] = _check_value(key, value, fields[name], tp)
    return cls(**kwargs)


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Applies ``a.b=value`` overrides (values parsed as YAML scalars) to a raw dict."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"Override must look like key=value (e.g. train.train_steps=100). "
                f"Received: {item!r}."
            )
        key, _, text = item.partition("=")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Override '{key}' goes below a value that is not a mapping.")
        node[parts[-1]] = _parse_scalar(text)
    return data


def read_config_file(path: str | Path) -> dict:
    """Reads a YAML or TOML config file into plain data."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}. Expected a .yaml/.yml/.toml file.")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomli

            data = tomli.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(
                f"Config file {path} has suffix {path.suffix!r}; expected .yaml, .yml or .toml."
            )
    except ConfigError:
        raise
    except Exception as e:  # yaml.YAMLError, tomli.TOMLDecodeError
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"Config file {path} is not valid {path.suffix[1:].upper()}: {first}"
        ) from None
    return data or {}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None
                ) -> PipelineConfig:
    """Loads, overrides and validates a config.

    Args:
      path: YAML or TOML file; ``None`` uses the default digits config.
      overrides: ``key=value`` strings applied after the file.

    Returns:
      The validated, frozen config.

    Raises:
      ConfigError: naming the key, the value received and what was expected.
    """
    path = Path(path or DEFAULT_CONFIG)
    data = read_config_file(path)
    data = apply_overrides(data, overrides or [])
    config = _build(PipelineConfig, data, "")
    _check_hparams(config.train)
    _check_edge_formats(config.edge)
    schema_file = config.validate.schema_file
    if schema_file:
        resolved = (path.parent / Path(schema_file).expanduser()).resolve()
        if not resolved.is_file():
            raise ConfigError(
                f"Config key 'validate.schema_file' must name an existing schema file. "
                f"Received: validate.schema_file={schema_file!r} (looked for {resolved})."
            )
        config = dataclasses.replace(
            config, validate=dataclasses.replace(config.validate, schema_file=str(resolved))
        )
    return config


def _check_hparams(train: TrainConfig) -> None:
    """Checks builder hyperparameters against the builder's own signature (their one owner)."""
    import importlib
    import inspect

    module_name, _, attr = train.builder.rpartition(".")
    try:
        builder = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(
            f"Config key 'train.builder' must name an importable function. "
            f"Received: train.builder={train.builder!r} ({e})."
        ) from None
    params = inspect.signature(builder).parameters
    hints = typing.get_type_hints(builder)
    tunable = {n for n, p in params.items() if p.default is not inspect.Parameter.empty}
    for name, value in train.hparams.items():
        key = f"train.hparams.{name}"
        if name not in tunable:
            raise ConfigError(
                f"Unknown config key '{key}': {train.builder} takes "
                f"{', '.join(sorted(tunable))}."
            )
        tp = hints.get(name)
        if tp is not None and not _matches(value, tp):
            raise ConfigError(
                f"Config key '{key}' must be {_describe(tp)}. Received: {key}={value!r}."
            )


EDGE_FORMATS = ("float32", "float16", "dynamic_range", "int8", "onnx")


def _check_edge_formats(edge: EdgeConfig) -> None:
    bad = [f for f in edge.formats if f not in EDGE_FORMATS]
    if bad or not edge.formats:
        raise ConfigError(
            f"Config key 'edge.formats' must be a non-empty list of {', '.join(EDGE_FORMATS)}. "
            f"Received: edge.formats={edge.formats!r}."
        )


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp in (bool, str):
        return isinstance(value, tp)
    if origin in (tuple, list, collections.abc.Sequence):
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return isinstance(value, (list, tuple)) and all(
            inner is Any or inner is Ellipsis or _matches(v, inner) for v in value
        )
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    return True


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is not None:
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if origin in (typing.Union, types.UnionType):
            return " or ".join(_describe(a) for a in args)
        return f"a list of {_describe(args[0])}" if args else "a list"
    return {int: "an int", float: "a number", bool: "a bool", str: "a string"}.get(
        tp, _type_name(tp)
    )


def describe_schema(cls: type = PipelineConfig, prefix: str = "") -> list[str]:
    """One line per config key with its default and help, for ``dlpipe config --help``."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            lines.extend(describe_schema(hints[f.name], key + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        lines.append(f"{key} = {default!r}  # {f.metadata.get('help', '')}")
    return lines
