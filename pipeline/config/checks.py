"""Checks across config keys, run at load time (``pipeline.config.loader.config_from_data``).

The model builder and its hyperparameters, the search space, the task kind against the
ingest kind and the evaluation, runners, metadata store and schedule. What needs the data
itself (does the label column exist? is it numeric?) is checked by the task's resolution
(``models.tasks.spec.resolve``) before anything runs.
"""

from __future__ import annotations

import collections.abc
import json
import types
import typing
from typing import Any

from dlpipe.errors import ConfigError
from models.tasks import spec as task_spec
from pipeline.config.paths import SPAN_SPEC
from pipeline.config.schema import (
    BeamConfig,
    EdgeConfig,
    IngestConfig,
    MetadataConfig,
    PipelineConfig,
    ScheduleConfig,
)
from pipeline.ingest.kinds import KINDS as INGEST_KINDS

EDGE_FORMATS = ("float32", "float16", "dynamic_range", "int8", "onnx")


def check(config: PipelineConfig) -> None:
    """Every cross-key check; raises ConfigError naming the key and the value received."""
    _check_task(config)
    builder = _check_model(config)
    _check_tune(config, builder)
    _check_edge_formats(config.edge)
    _check_edge_rgb_input(config)
    _check_ingest(config.ingest)
    _check_beam(config.beam)
    _check_metadata(config.metadata)
    _check_schedule(config.schedule)
    _check_evaluate(config)
    _check_distribution(config)


_WANTS = {**dict.fromkeys(task_spec.IMAGE_KINDS, "images"),
          **dict.fromkeys(task_spec.TABULAR_KINDS, "table"),
          task_spec.TEXT_CLASSIFICATION: "text",
          task_spec.AUDIO_CLASSIFICATION: "audio",
          task_spec.RETRIEVAL: "table"}


def _check_task(config: PipelineConfig) -> None:
    """The task kind fits what the ingest kind provides; tabular keys only for tables."""
    task, kind = config.task, INGEST_KINDS[config.ingest.kind]
    wants = _WANTS[task.kind]
    if not task_spec.source_fits(wants, kind.provides):
        names = sorted(k.name for k in INGEST_KINDS.values()
                       if task_spec.source_fits(wants, k.provides))
        raise ConfigError(
            f"Config key 'task.kind' is {task.kind!r}, which reads {wants}, but "
            f"ingest.kind={kind.name!r} provides {kind.provides}. Expected an ingest kind with "
            f"{wants}: {', '.join(names)}. Received: task.kind={task.kind!r}."
        )
    if task.kind not in task_spec.TABULAR_KINDS:
        for key in ("numeric", "categorical", "ignore"):
            if getattr(task, key):
                raise ConfigError(
                    f"Config key 'task.{key}' applies to tabular kinds; task.kind is "
                    f"{task.kind!r}. Received: task.{key}={getattr(task, key)!r}."
                )
    task_spec.check_image_shape(task.image_shape)
    if task.image_shape and task.kind not in task_spec.IMAGE_KINDS:
        raise ConfigError(f"Config key 'task.image_shape' applies to image kinds; task.kind "
                          f"is {task.kind!r}. Received: task.image_shape={task.image_shape!r}.")


def _check_model(config: PipelineConfig) -> Any:
    """The builder exists and fits the kind; ``model.hparams`` are its parameters."""
    from models import zoo

    kind, module_file = config.task.kind, config.task.module_file
    try:
        builder, preset = zoo.load_builder(config.model.builder, kind, module_file)
    except zoo.BuilderError as e:
        raise ConfigError(f"Config key {e}") from None
    _check_hparams(config, builder, config.model.hparams, "model.hparams")
    return builder


def _check_hparams(config: PipelineConfig, builder: Any, hparams: dict, section: str) -> None:
    """Builder arguments against the builder's own signature (their one owner)."""
    from models import zoo

    name = zoo.builder_name(config.model.builder, config.task.kind)
    params = zoo.tunable_parameters(builder)
    hints = typing.get_type_hints(builder)
    derived = zoo.DERIVED_HPARAMS.get(config.task.kind, ())
    for key, value in hparams.items():
        full = f"{section}.{key}"
        if key in derived:
            raise ConfigError(
                f"Config key '{full}' cannot be set: task.kind {config.task.kind!r} derives it "
                f"from the data (the Transform vocabulary's size). Remove it."
            )
        if key in zoo.FIXED_HPARAMS or key not in params:
            settable = sorted(set(params) - set(zoo.FIXED_HPARAMS) - set(derived))
            raise ConfigError(f"Unknown config key '{full}': builder {name} takes "
                              f"{', '.join(settable)}.")
        tp = hints.get(key)
        if tp is not None and not _matches(value, tp):
            raise ConfigError(
                f"Config key '{full}' must be {_describe(tp)}. Received: {full}={value!r}."
            )


def _check_tune(config: PipelineConfig, builder: Any) -> None:
    """Search-space keys are builder parameters (or learning_rate), each with candidates."""
    tune = config.tune
    if tune.enabled and config.task.kind in task_spec.GENERATIVE_KINDS:
        raise ConfigError(
            f"Config key 'tune.enabled' works for classification and regression kinds (the "
            f"Tuner scores a Keras metric on the eval split); task.kind is "
            f"{config.task.kind!r}. Received: tune.enabled=true."
        )
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
            for choice in choices:
                _check_hparams(config, builder, {name: choice}, "tune.search_space")


def _check_evaluate(config: PipelineConfig) -> None:
    """A GAN needs a classifier to score its samples."""
    if config.task.kind == task_spec.GAN and not config.evaluate.scorer_model:
        raise ConfigError(
            "Config key 'evaluate.scorer_model' must name the image classifier that scores "
            "a GAN's samples (e.g. 'digits': <serving_root>/digits, pushed by the digits_cnn "
            "pipeline). Received: evaluate.scorer_model=''."
        )


def _check_distribution(config: PipelineConfig) -> None:
    """Mirrored training wraps the supervised Trainer (generators train their own way)."""
    train = config.train
    if train.distribution != "none" and config.task.kind in task_spec.GENERATIVE_KINDS:
        raise ConfigError(
            f"Config key 'train.distribution' applies to classification and regression kinds; "
            f"task.kind is {config.task.kind!r}. Received: "
            f"train.distribution={train.distribution!r}."
        )
    if train.cpu_devices and train.distribution != "mirrored":
        raise ConfigError(
            f"Config key 'train.cpu_devices' applies with train.distribution='mirrored'; "
            f"train.distribution is {train.distribution!r}. Received: "
            f"train.cpu_devices={train.cpu_devices}."
        )


def _check_edge_formats(edge: EdgeConfig) -> None:
    bad = [f for f in edge.formats if f not in EDGE_FORMATS]
    if bad or not edge.formats:
        raise ConfigError(
            f"Config key 'edge.formats' must be a non-empty list of {', '.join(EDGE_FORMATS)}. "
            f"Received: edge.formats={edge.formats!r}."
        )


def _rgb_input_refusal(kind: str, channels: int | None) -> str:
    """Why ``edge.rgb_input`` cannot apply, or "" when it can (or the channels are unknown)."""
    if kind != task_spec.IMAGE_CLASSIFICATION:
        return f"task.kind is {kind!r}"
    if channels is not None and channels != 1:
        return f"the images have {channels} channels"
    return ""


def _check_edge_rgb_input(config: PipelineConfig) -> None:
    """``edge.rgb_input`` only for a grey image classifier (the channels, where known before
    the data is read: task.image_shape or a bundled kind; else ``check_resolved``)."""
    if not config.edge.rgb_input:
        return
    shape = config.task.image_shape or INGEST_KINDS[config.ingest.kind].image_shape
    _refuse_rgb_input(_rgb_input_refusal(config.task.kind, shape[-1] if shape else None))


def _refuse_rgb_input(why: str) -> None:
    if why:
        raise ConfigError(
            f"Config key 'edge.rgb_input' applies to image classifiers with 1 channel (grey "
            f"images an app sends as RGB); {why}. Received: edge.rgb_input=true."
        )


def check_resolved(config: PipelineConfig, task: task_spec.Task) -> None:
    """Checks that need the task resolved against the data (the images' channels).

    Raises:
      ConfigError: naming the key, the value received and what was expected.
    """
    if config.edge.rgb_input:
        shape = task.image_shape
        _refuse_rgb_input(_rgb_input_refusal(task.kind, shape[-1] if shape else None))


def _check_ingest(ingest: IngestConfig) -> None:
    kind = INGEST_KINDS[ingest.kind]
    for key in kind.needs:
        if not getattr(ingest, key):
            raise ConfigError(
                f"Config key 'ingest.{key}' must be set when ingest.kind={ingest.kind!r} "
                f"({kind.help}). Received: ingest.{key}=''."
            )
    if "{" in ingest.path and not kind.spans:
        spans = [k.name for k in INGEST_KINDS.values() if k.spans]
        raise ConfigError(
            f"Config key 'ingest.path' may hold a {SPAN_SPEC} pattern only with ingest.kind "
            f"{' or '.join(map(repr, spans))}. Received: ingest.path={ingest.path!r}, "
            f"ingest.kind={ingest.kind!r}."
        )
    stripped = ingest.path.replace(SPAN_SPEC, "")
    if "{" in stripped or "}" in stripped:
        raise ConfigError(
            f"Config key 'ingest.path' supports only the {SPAN_SPEC} placeholder. "
            f"Received: ingest.path={ingest.path!r}."
        )


_RUNNER_NEEDS = {
    "PortableRunner": ("job_endpoint", "environment_type"),
    "DataflowRunner": ("project", "region", "temp_location"),
    "FlinkRunner": ("flink_master",),
    "SparkRunner": ("spark_master_url",),
}
_DIRECT_DEFAULTS = {"direct_num_workers": 1, "direct_running_mode": "in_memory"}
_NOT_DIRECT = ("job_endpoint", "environment_type", "environment_config",
               "sdk_container_image")


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
    if beam.runner == "DirectRunner":
        for key in _NOT_DIRECT:
            if getattr(beam, key):
                raise ConfigError(
                    f"Config key 'beam.{key}' applies to PortableRunner, FlinkRunner, "
                    f"SparkRunner or DataflowRunner, not beam.runner='DirectRunner'. "
                    f"Received: beam.{key}={getattr(beam, key)!r}."
                )
    else:
        for key, default in _DIRECT_DEFAULTS.items():
            if getattr(beam, key) != default:
                raise ConfigError(
                    f"Config key 'beam.{key}' applies to beam.runner='DirectRunner'; "
                    f"beam.runner is {beam.runner!r}. Received: "
                    f"beam.{key}={getattr(beam, key)!r}."
                )
    if beam.job_endpoint:
        _check_host_port("beam.job_endpoint", beam.job_endpoint)
    if beam.environment_type == "EXTERNAL":
        if not beam.environment_config:
            raise ConfigError(
                "Config key 'beam.environment_config' must be the worker pool's host:port "
                "when beam.environment_type='EXTERNAL' (`dlpipe beam-worker-pool` prints "
                "it). Received: beam.environment_config=''."
            )
        _check_host_port("beam.environment_config", beam.environment_config)
    if beam.environment_type == "PROCESS" and beam.environment_config.lstrip().startswith("{"):
        try:
            command = json.loads(beam.environment_config).get("command")
        except (ValueError, AttributeError):
            command = None
        if not isinstance(command, str) or not command:
            raise ConfigError(
                "Config key 'beam.environment_config' must be a command's path or JSON "
                "such as {\"command\": \"/venv/bin/dlpipe-beam-boot\"} when "
                "beam.environment_type='PROCESS'. Received: "
                f"beam.environment_config={beam.environment_config!r}."
            )
    if beam.environment_type == "DOCKER" and not beam.sdk_container_image:
        raise ConfigError(
            "Config key 'beam.sdk_container_image' must name the worker image when "
            "beam.environment_type='DOCKER'. Received: beam.sdk_container_image=''."
        )


def _check_host_port(key: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(
            f"Config key '{key}' must be host:port, e.g. 'localhost:8099'. "
            f"Received: {key}={value!r}."
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
        tp, getattr(tp, "__name__", str(tp))
    )
