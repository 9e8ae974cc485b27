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

from pipeline.ingest import CSV_KINDS, CSV_PATTERN, INPUT_PATTERN

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


INGEST_KINDS = ("sklearn_digits", "tfrecord", "csv", "palmerpenguins", "imdb_sample",
                "image_folder", "tfds")


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    kind: str = _field(
        "sklearn_digits",
        "Where examples come from: 'sklearn_digits' (bundled 8x8 digits, written as "
        "tf.Example TFRecords), 'tfrecord' (a directory of tf.Example TFRecord files), "
        "'csv' (a directory of *.csv files with a header line, read by CsvExampleGen), "
        "'palmerpenguins' (the bundled Palmer penguins, written as CSV), 'imdb_sample' "
        "(the 100 labelled IMDB reviews inside the tfx package, as CSV), 'image_folder' "
        "(ingest.path holds one subfolder of PNG/JPEG images per class) or 'tfds' (a "
        "TensorFlow Datasets dataset, ingest.tfds_name).",
        choices=INGEST_KINDS,
    )
    path: str = _field(
        "",
        "Input directory. For the bundled kinds ('sklearn_digits', 'palmerpenguins', "
        "'imdb_sample') it is where their files are written (default: "
        "<output_root>/data/<kind>); for 'csv' it must hold *.csv files; for 'tfrecord' it "
        "must hold *.tfrecord or "
        "*.tfrecord.gz files, or it is a span pattern such as '/data/digits/span-{SPAN}' or "
        "'/data/digits/span-{SPAN}/*.tfrecord.gz': each run then reads the newest span only "
        "(TFX's {SPAN} input pattern; ImportExampleGen's driver picks the span).",
    )
    image_shape: list = _field(
        None,
        "For 'image_folder': [height, width, channels] the images are resized to (channels "
        "1: grey, 3: RGB). Empty: the task's image shape with one channel.",
        default_factory=list,
    )
    tfds_name: str = _field("", "For 'tfds': the dataset, e.g. 'mnist' or 'fashion_mnist'.")
    tfds_version: str = _field("", "For 'tfds': dataset version (empty: the newest).")
    tfds_data_dir: str = _field(
        "", "For 'tfds': data_dir holding the prepared dataset (empty: TFDS's default)."
    )
    tfds_download: bool = _field(
        False, "For 'tfds': let TFDS download and prepare a dataset missing from data_dir "
        "(needs internet; off, a missing dataset fails at once, saying how to provide it)."
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
class TuneConfig:
    enabled: bool = _field(
        False, "Run TFX's Tuner (KerasTuner random search) before the Trainer; the Trainer "
        "then trains with the best values found."
    )
    search_space: dict = _field(
        None,
        "Hyperparameter -> list of candidate values (scalars). Each key must be a parameter "
        "of train.builder, or 'learning_rate'. Keys not listed keep train.hparams' values.",
        default_factory=dict,
    )
    max_trials: int = _field(4, "Trials (models built and trained) in the search.", minimum=1)
    trial_steps: int = _field(100, "Training steps per trial.", minimum=1)
    objective: str = _field(
        "val_sparse_categorical_accuracy", "Keras metric the search maximizes (eval split)."
    )


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
    # Generative tasks (the task's facts module says EVALUATION = "generative"): the
    # GenerativeEvaluator (components/generative_evaluator) blesses VAEs and GANs.
    max_reconstruction_ratio: float = _field(
        0.6,
        "VAE: blessed only if the mean reconstruction error on the eval split is <= this "
        "times the error of the mean-image baseline (the train split's mean image).",
        minimum=0.0, exclusive=True,
    )
    max_elbo_ratio: float = _field(
        1.0,
        "VAE: blessed only if the negative ELBO on the eval split is <= this times the NLL "
        "of the mean-image baseline (independent Bernoulli pixels with the mean image as "
        "probabilities).",
        minimum=0.0, exclusive=True,
    )
    max_regression: float = _field(
        0.1,
        "VAE and GAN: blessed only if no more than this fraction worse than the latest "
        "blessed model (VAE: reconstruction error; GAN: mean confidence and class coverage).",
        minimum=0.0,
    )
    scorer_model: str = _field(
        "",
        "GAN: the digits image classifier that scores the samples: a served model directory "
        "(its newest numeric version is used) or a SavedModel directory. Relative paths are "
        "taken under the serving root ('digits': what the digits_cnn pipeline pushes).",
    )
    num_samples: int = _field(1000, "GAN: samples generated and scored.", minimum=1)
    min_confidence: float = _field(
        0.7, "GAN: blessed only if the scorer's mean top-class probability on the samples "
        "is >= this.", minimum=0.0, maximum=1.0,
    )
    min_class_coverage: float = _field(
        0.5,
        "GAN: blessed only if this fraction of the classes is covered: each is the scorer's "
        "top class for at least half its uniform share of the samples.",
        minimum=0.0, maximum=1.0,
    )
    max_frechet_distance: float = _field(
        0.0,
        "GAN: blessed only if the Frechet distance between the scorer's outputs on samples "
        "and on eval images is <= this; 0: reported, not checked.",
        minimum=0.0,
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


BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")


@dataclasses.dataclass(frozen=True)
class BeamConfig:
    runner: str = _field(
        "DirectRunner",
        "Beam runner of the data-parallel components (ExampleGen, StatisticsGen, Transform, "
        "Evaluator): DirectRunner (this machine), DataflowRunner (needs beam.project, "
        "beam.region, beam.temp_location), FlinkRunner (needs beam.flink_master), "
        "SparkRunner (needs beam.spark_master_url).",
        choices=BEAM_RUNNERS,
    )
    direct_num_workers: int = _field(
        1, "Workers for Beam's DirectRunner (0: one per core).", minimum=0
    )
    direct_running_mode: str = _field(
        "in_memory", "DirectRunner mode.",
        choices=("in_memory", "multi_threading", "multi_processing"),
    )
    project: str = _field("", "DataflowRunner: Google Cloud project id.")
    region: str = _field("", "DataflowRunner: region, e.g. 'europe-west1'.")
    temp_location: str = _field(
        "", "DataflowRunner: a gs:// path for temporary and staging files."
    )
    flink_master: str = _field("", "FlinkRunner: the Flink JobManager, host:port.")
    spark_master_url: str = _field(
        "", "SparkRunner: the Spark master, e.g. 'spark://host:7077'."
    )
    environment_type: str = _field(
        "",
        "Flink/Spark: where the Python SDK harness runs: DOCKER (beam.sdk_container_image), "
        "PROCESS, EXTERNAL (beam.environment_config = host:port of a worker pool) or "
        "LOOPBACK (this process; local tests only). Empty: the runner's default.",
        choices=("", "DOCKER", "PROCESS", "EXTERNAL", "LOOPBACK"),
    )
    environment_config: str = _field(
        "", "Flink/Spark: the environment's config (e.g. the worker pool address)."
    )
    sdk_container_image: str = _field(
        "",
        "Dataflow/Flink/Spark: the worker image; it must hold dlpipe and its locked "
        "dependencies (the project's Dockerfile builds one).",
    )
    extra_args: list = _field(
        None, "Further Beam pipeline arguments, passed as given.", default_factory=list
    )


@dataclasses.dataclass(frozen=True)
class MetadataConfig:
    store: str = _field(
        "sqlite",
        "ML Metadata store: 'sqlite' (a file under the output root) or 'mysql' (a MySQL or "
        "MariaDB server a team shares).",
        choices=("sqlite", "mysql"),
    )
    sqlite_path: str = _field(
        "", "SQLite file. Default: <output_root>/metadata/<name>.sqlite."
    )
    host: str = _field("", "MySQL host.")
    port: int = _field(3306, "MySQL port.", minimum=1, maximum=65535)
    database: str = _field("", "MySQL database (created by ML Metadata if missing).")
    user: str = _field("", "MySQL user.")
    password_env: str = _field(
        "",
        "Name of the environment variable holding the MySQL password (the password "
        "itself is never put in a config file). Empty: no password.",
    )


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    cron: str = _field(
        "", "Default schedule of 'dlpipe schedule' and the exports: a 5-field crontab line "
        "such as '0 3 * * *' (server local time)."
    )
    every: str = _field(
        "", "Default schedule as an interval: a number and a unit, e.g. '30s', '15m', '6h', "
        "'1d'. Exclusive with schedule.cron."
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
    tune: TuneConfig = _field(None, "Hyperparameter search.", default_factory=TuneConfig)
    evaluate: EvaluateConfig = _field(None, "Evaluation.", default_factory=EvaluateConfig)
    infra_validate: InfraValidateConfig = _field(
        None, "Infra validation.", default_factory=InfraValidateConfig
    )
    push: PushConfig = _field(None, "Push.", default_factory=PushConfig)
    edge: EdgeConfig = _field(None, "Edge export.", default_factory=EdgeConfig)
    beam: BeamConfig = _field(None, "Beam options.", default_factory=BeamConfig)
    metadata: MetadataConfig = _field(
        None, "ML Metadata store.", default_factory=MetadataConfig
    )
    schedule: ScheduleConfig = _field(
        None, "Schedule for 'dlpipe schedule' and 'dlpipe export'.",
        default_factory=ScheduleConfig,
    )

    # Derived locations: one place computes them.
    @property
    def root(self) -> Path:
        return Path(self.output_root).expanduser().resolve()

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline" / self.name

    @property
    def metadata_path(self) -> Path:
        """The SQLite metadata file (``metadata.store: sqlite``)."""
        if self.metadata.sqlite_path:
            return Path(self.metadata.sqlite_path).expanduser().resolve()
        return self.root / "metadata" / f"{self.name}.sqlite"

    @property
    def metadata_location(self) -> str:
        """Where ML Metadata lives, for people: a file path or ``mysql://user@host:port/db``."""
        m = self.metadata
        if m.store == "mysql":
            return f"mysql://{m.user}@{m.host}:{m.port}/{m.database}"
        return str(self.metadata_path)

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
        """The input directory; for a span pattern, the fixed part before the first ``{SPAN}``."""
        if self.ingest.path:
            return split_span_pattern(self.ingest.path)[0]
        return self.root / "data" / self.ingest.kind

    @property
    def input_pattern(self) -> str:
        """ExampleGen's split pattern, relative to ``data_dir``."""
        if self.ingest.kind in CSV_KINDS:
            return CSV_PATTERN
        if self.ingest.path:
            return split_span_pattern(self.ingest.path)[1]
        return INPUT_PATTERN

    @property
    def uses_spans(self) -> bool:
        return SPAN_SPEC in self.input_pattern

    def task_facts(self) -> types.ModuleType:
        """The task's facts module (label key, shapes, signature names), named by ``task``."""
        import importlib

        return importlib.import_module(self.task)

    def beam_args(self) -> list[str]:
        """Beam pipeline arguments for the configured runner (see ``BeamConfig``)."""
        beam = self.beam
        args = [f"--runner={beam.runner}"]
        if beam.runner == "DirectRunner":
            args += [f"--direct_num_workers={beam.direct_num_workers}",
                     f"--direct_running_mode={beam.direct_running_mode}"]
        elif beam.runner == "DataflowRunner":
            args += [f"--project={beam.project}", f"--region={beam.region}",
                     f"--temp_location={beam.temp_location}"]
        elif beam.runner == "FlinkRunner":
            args += [f"--flink_master={beam.flink_master}"]
        elif beam.runner == "SparkRunner":
            args += [f"--spark_master_url={beam.spark_master_url}"]
        if beam.runner != "DirectRunner":
            for flag in ("environment_type", "environment_config", "sdk_container_image"):
                if getattr(beam, flag):
                    args.append(f"--{flag}={getattr(beam, flag)}")
        return [*args, *beam.extra_args]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SPAN_SPEC = "{SPAN}"
"""TFX's span placeholder in ImportExampleGen input patterns."""


def split_span_pattern(path: str) -> tuple[Path, str]:
    """Splits ``ingest.path`` into ImportExampleGen's input base and split pattern.

    ``/data/digits/span-{SPAN}`` gives (``/data/digits``, ``span-{SPAN}/*.tfrecord*``);
    ``/data/digits/span-{SPAN}/*.gz`` gives (``/data/digits``, ``span-{SPAN}/*.gz``); a plain
    directory gives (the directory, ``*.tfrecord*``).
    """
    parts = Path(path).expanduser().parts
    first = next((i for i, p in enumerate(parts) if "{" in p or "*" in p or "?" in p), None)
    if first is None:
        return Path(path).expanduser().resolve(), INPUT_PATTERN
    base = Path(*parts[:first]).resolve() if first else Path.cwd()
    rest = list(parts[first:])
    if not any(c in rest[-1] for c in "*?"):
        rest.append(INPUT_PATTERN)
    return base, "/".join(rest)


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
    if not text.strip():
        return ""  # `--set key=` clears a string key (YAML would read it as null)
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
    return config_from_data(data, path.parent)


def config_from_data(data: dict, base_dir: str | Path = ".") -> PipelineConfig:
    """Validates plain config data (e.g. a resolved config embedded in an Airflow DAG file).

    Args:
      data: Config keys and values, as in a config file.
      base_dir: Directory a relative ``validate.schema_file`` is taken from.

    Raises:
      ConfigError: naming the key, the value received and what was expected.
    """
    config = _build(PipelineConfig, data, "")
    _check_hparams(config.train)
    _check_tune(config.tune, config.train)
    _check_derived_hparams(config)
    _check_edge_formats(config.edge)
    _check_ingest(config.ingest)
    _check_beam(config.beam)
    _check_metadata(config.metadata)
    _check_schedule(config.schedule)
    _check_evaluate(config)
    schema_file = config.validate.schema_file
    if schema_file:
        resolved = (Path(base_dir) / Path(schema_file).expanduser()).resolve()
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


def _check_derived_hparams(config: PipelineConfig) -> None:
    """Builder arguments the task derives from its data (DERIVED_HPARAMS) are not settable."""
    try:
        derived = getattr(config.task_facts(), "DERIVED_HPARAMS", {})
    except ImportError as e:
        raise ConfigError(f"Config key 'task' must name an importable facts module. "
                          f"Received: task={config.task!r} ({e}).") from None
    if config.tune.enabled and not hasattr(config.task_facts(), "NUM_CLASSES"):
        raise ConfigError(
            f"Config key 'tune.enabled' works for classifier tasks (the Tuner scores "
            f"{config.tune.objective}); task {config.task} is not one. Received: "
            f"tune.enabled=true."
        )
    for section, keys in (("train.hparams", config.train.hparams),
                          ("tune.search_space", config.tune.search_space)):
        for name in sorted(set(keys) & set(derived)):
            raise ConfigError(
                f"Config key '{section}.{name}' cannot be set: task {config.task} derives it "
                f"from the data ({derived[name]}). Remove it."
            )


def _check_tune(tune: TuneConfig, train: TrainConfig) -> None:
    """Search-space keys are builder parameters (or learning_rate), each with candidates."""
    if tune.enabled and not tune.search_space:
        raise ConfigError(
            "Config key 'tune.search_space' must list at least one hyperparameter when "
            "tune.enabled=true, e.g. {dense_units: [32, 64]}. Received: {}."
        )
    for name, choices in tune.search_space.items():
        key = f"tune.search_space.{name}"
        if (not isinstance(choices, list) or not choices
                or not all(isinstance(c, (bool, int, float, str)) for c in choices)):
            raise ConfigError(
                f"Config key '{key}' must be a non-empty list of scalar candidates. "
                f"Received: {key}={choices!r}."
            )
        if name != "learning_rate":
            _check_hparams(dataclasses.replace(train, hparams={name: choices[0]}))
            for choice in choices[1:]:
                _check_hparams(dataclasses.replace(train, hparams={name: choice}))


def _check_evaluate(config: PipelineConfig) -> None:
    """A GAN task (its facts module's ``GENERATIVE_KIND``) needs a classifier to score it."""
    try:
        task = config.task_facts()
    except ImportError:
        return  # not this check's business: the run reports an unimportable task
    if getattr(task, "GENERATIVE_KIND", "") == "gan" and not config.evaluate.scorer_model:
        raise ConfigError(
            f"Config key 'evaluate.scorer_model' must name the image classifier that scores "
            f"the samples of task {config.task} (e.g. 'digits': <serving_root>/digits, pushed "
            f"by the digits_cnn pipeline). Received: evaluate.scorer_model=''."
        )


def _check_ingest_source(ingest: IngestConfig) -> None:
    shape = ingest.image_shape
    if shape and (len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape)
                  or shape[2] not in (1, 3)):
        raise ConfigError(
            "Config key 'ingest.image_shape' must be [height, width, channels] with channels "
            f"1 or 3. Received: ingest.image_shape={shape!r}."
        )
    if ingest.kind == "tfds" and not ingest.tfds_name:
        raise ConfigError(
            "Config key 'ingest.tfds_name' must name a TFDS dataset when ingest.kind='tfds'. "
            "Received: ingest.tfds_name=''."
        )
    if ingest.kind == "csv" and not ingest.path:
        raise ConfigError(
            "Config key 'ingest.path' must name the directory of CSV files when "
            "ingest.kind='csv'. Received: ingest.path=''."
        )
    if ingest.kind == "image_folder" and not ingest.path:
        raise ConfigError(
            "Config key 'ingest.path' must name the image folder when "
            "ingest.kind='image_folder'. Received: ingest.path=''."
        )


EDGE_FORMATS = ("float32", "float16", "dynamic_range", "int8", "onnx")


def _check_edge_formats(edge: EdgeConfig) -> None:
    bad = [f for f in edge.formats if f not in EDGE_FORMATS]
    if bad or not edge.formats:
        raise ConfigError(
            f"Config key 'edge.formats' must be a non-empty list of {', '.join(EDGE_FORMATS)}. "
            f"Received: edge.formats={edge.formats!r}."
        )


def _check_ingest(ingest: IngestConfig) -> None:
    if "{" in ingest.path and ingest.kind != "tfrecord":
        raise ConfigError(
            f"Config key 'ingest.path' may hold a {SPAN_SPEC} pattern only with "
            f"ingest.kind='tfrecord'. Received: ingest.path={ingest.path!r}, "
            f"ingest.kind={ingest.kind!r}."
        )
    stripped = ingest.path.replace(SPAN_SPEC, "")
    if "{" in stripped or "}" in stripped:
        raise ConfigError(
            f"Config key 'ingest.path' supports only the {SPAN_SPEC} placeholder. "
            f"Received: ingest.path={ingest.path!r}."
        )
    _check_ingest_source(ingest)


_RUNNER_NEEDS = {
    "DataflowRunner": ("project", "region", "temp_location"),
    "FlinkRunner": ("flink_master",),
    "SparkRunner": ("spark_master_url",),
}


def _check_beam(beam: BeamConfig) -> None:
    for key in _RUNNER_NEEDS.get(beam.runner, ()):
        if not getattr(beam, key):
            raise ConfigError(
                f"Config key 'beam.{key}' must be set when beam.runner={beam.runner!r}. "
                f"Received: beam.{key}=''."
            )
    if beam.runner == "DataflowRunner" and not beam.temp_location.startswith("gs://"):
        raise ConfigError(
            f"Config key 'beam.temp_location' must be a gs:// path for DataflowRunner. "
            f"Received: beam.temp_location={beam.temp_location!r}."
        )
    if beam.environment_type == "DOCKER" and not beam.sdk_container_image:
        raise ConfigError(
            "Config key 'beam.sdk_container_image' must name the worker image when "
            "beam.environment_type='DOCKER'. Received: beam.sdk_container_image=''."
        )


def _check_metadata(metadata: MetadataConfig) -> None:
    if metadata.store != "mysql":
        return
    for key in ("host", "database", "user"):
        if not getattr(metadata, key):
            raise ConfigError(
                f"Config key 'metadata.{key}' must be set when metadata.store='mysql'. "
                f"Received: metadata.{key}=''."
            )


def _check_schedule(schedule: ScheduleConfig) -> None:
    from pipeline.schedule import ScheduleError, make_trigger

    if schedule.cron and schedule.every:
        raise ConfigError(
            f"Config keys 'schedule.cron' and 'schedule.every' are exclusive. Received: "
            f"schedule.cron={schedule.cron!r}, schedule.every={schedule.every!r}."
        )
    try:
        if schedule.cron or schedule.every:
            make_trigger(cron=schedule.cron, every=schedule.every)
    except ScheduleError as e:
        key = "schedule.cron" if schedule.cron else "schedule.every"
        raise ConfigError(f"Config key '{key}': {e}") from None


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
