"""TF Serving deployment files: ``models.config``, batching, monitoring, docker-compose.

Every file is written in the format ``tensorflow_model_server`` reads (text-format protos
from ``tensorflow-serving-api`` and :mod:`serving.protos`), atomically (temp file and
rename, so a server polling the file never reads half of it) and idempotently (a file whose
content would not change is not rewritten, so its mtime does not trigger a reload).

The hook for the pipeline's push step is :func:`write_models_config`.

Paths: ``base_path`` entries are absolute host paths, and the compose file mounts the
serving root at the same absolute path inside the container, so one ``models.config`` is
valid for ``tensorflow_model_server`` in Docker and for ``dlpipe serve`` alike.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from dlpipe.files import write_atomically

MODELS_CONFIG = "models.config"
BATCHING_FILE = "batching_parameters.pbtxt"
MONITORING_FILE = "monitoring.config"
COMPOSE_FILE = "docker-compose.yml"
RUN_SCRIPT = "run_tf_serving.sh"
EMBEDDED_RUN_SCRIPT = "run_dlpipe_serve.sh"
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
TF_SERVING_IMAGE = "tensorflow/serving:2.16.1"

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_LABEL_RE = re.compile(r"^[a-zA-Z0-9_]+$")
_POLICIES = ("latest", "all", "specific")


class ServingConfigError(ValueError):
    """A serving config value or file that TF Serving would reject."""


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """One ``config { ... }`` entry of a ``ModelServerConfig``.

    Attributes:
      name: Model name clients use in ``/v1/models/<name>`` and ``ModelSpec.name``.
      base_path: Directory holding the integer version directories. Empty: the model's
        directory under the serving root.
      version_policy: ``latest`` (the ``num_versions`` highest versions), ``all`` or
        ``specific`` (the ``versions`` listed).
      num_versions: Versions kept loaded by the ``latest`` policy.
      versions: Versions served by the ``specific`` policy.
      labels: Version labels, e.g. ``{"stable": 2, "canary": 3}``.
    """

    name: str
    base_path: str = ""
    version_policy: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ServingConfigError(
                f"Model name must match {_NAME_RE.pattern}. Received: name={self.name!r}"
            )
        if self.version_policy not in _POLICIES:
            raise ServingConfigError(
                f"version_policy must be one of {_POLICIES}. "
                f"Received: version_policy={self.version_policy!r} for model {self.name!r}"
            )
        if self.version_policy == "latest" and self.num_versions < 1:
            raise ServingConfigError(
                f"num_versions must be >= 1. Received: num_versions={self.num_versions!r}"
            )
        if self.version_policy == "specific" and not self.versions:
            raise ServingConfigError(
                f"The 'specific' policy needs at least one version. Received: versions=() "
                f"for model {self.name!r}"
            )
        for v in self.versions:
            if int(v) < 0:
                raise ServingConfigError(f"Versions must be >= 0. Received: {v!r}")
        for label, version in self.labels.items():
            if not _LABEL_RE.match(label):
                raise ServingConfigError(
                    f"Version labels must match [a-zA-Z0-9_]+. Received: label={label!r}"
                )
            if int(version) < 0:
                raise ServingConfigError(
                    f"Label {label!r} must point at a version >= 0. Received: {version!r}"
                )


def _to_proto(model: ServedModel, serving_root: Path) -> Any:
    from tensorflow_serving.config import model_server_config_pb2

    cfg = model_server_config_pb2.ModelConfig()
    cfg.name = model.name
    base = Path(model.base_path) if model.base_path else serving_root / model.name
    cfg.base_path = str(base.absolute())
    cfg.model_platform = "tensorflow"
    policy = cfg.model_version_policy
    if model.version_policy == "latest":
        policy.latest.num_versions = model.num_versions
    elif model.version_policy == "all":
        policy.all.SetInParent()
    else:
        policy.specific.versions.extend(sorted(int(v) for v in model.versions))
    for label in sorted(model.labels):
        cfg.version_labels[label] = int(model.labels[label])
    return cfg


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> bool:
    """Writes ``text`` to ``path`` atomically; returns False if the file already held it
    (a server polling the file sees no change for nothing)."""
    return write_atomically(Path(path), text, mode=mode, skip_unchanged=True)


def read_models_config(path: Path) -> Any:
    """Parses a text-format ``ModelServerConfig`` file.

    Raises:
      ServingConfigError: The file is missing or is not a valid ModelServerConfig.
    """
    from tensorflow_serving.config import model_server_config_pb2

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ServingConfigError(f"Cannot read model config file {path}: {e}") from e
    try:
        return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as e:
        raise ServingConfigError(
            f"{path} is not a text-format ModelServerConfig: {e}"
        ) from e


def write_models_config(
    serving_root: Path,
    models: Iterable[ServedModel | str],
    *,
    path: Path | None = None,
    keep_other_models: bool = True,
) -> Path:
    """Writes ``<serving_root>/models.config`` for TF Serving and ``dlpipe serve``.

    The pipeline's push step calls this after each push. Calling it again with the same
    arguments leaves the file untouched; a change is written atomically.

    Args:
      serving_root: Directory holding ``<model_name>/<version>/`` SavedModels.
      models: The models to declare; a plain string is a model with the default policy
        (latest version) and no labels.
      path: Where to write (default ``<serving_root>/models.config``).
      keep_other_models: Keep entries already in the file for models not in ``models``
        (several pipelines may push into one serving root).

    Returns:
      The path of the config file.

    Raises:
      ServingConfigError: A model entry is invalid or two entries share a name.
    """
    from tensorflow_serving.config import model_server_config_pb2

    serving_root = Path(serving_root).absolute()
    path = Path(path) if path else serving_root / MODELS_CONFIG
    entries = [ServedModel(name=m) if isinstance(m, str) else m for m in models]
    names = [m.name for m in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ServingConfigError(f"Model names must be unique. Received duplicates: {duplicates}")

    configs = {m.name: _to_proto(m, serving_root) for m in entries}
    if keep_other_models and path.is_file():
        for old in read_models_config(path).model_config_list.config:
            configs.setdefault(old.name, old)

    server_config = model_server_config_pb2.ModelServerConfig()
    for name in sorted(configs):
        server_config.model_config_list.config.add().CopyFrom(configs[name])
    atomic_write_text(path, text_format.MessageToString(server_config))
    return path


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's ``BatchingParameters`` (``--batching_parameters_file``).

    Defaults follow TF Serving's CPU advice: threads = cores, a large max batch, a short
    timeout.
    """

    max_batch_size: int = 64
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 64
    num_batch_threads: int = 2
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self) -> None:
        for key in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, key) < 1:
                raise ServingConfigError(f"{key} must be >= 1. Received: {getattr(self, key)!r}")
        if self.batch_timeout_micros < 0:
            raise ServingConfigError(
                f"batch_timeout_micros must be >= 0. Received: {self.batch_timeout_micros!r}"
            )
        sizes = list(self.allowed_batch_sizes)
        if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != self.max_batch_size):
            raise ServingConfigError(
                "allowed_batch_sizes must increase and end with max_batch_size "
                f"({self.max_batch_size}). Received: {tuple(sizes)!r}"
            )

    def to_proto(self) -> Any:
        from serving import protos

        msg = protos.batching_parameters_class()()
        msg.max_batch_size.value = self.max_batch_size
        msg.batch_timeout_micros.value = self.batch_timeout_micros
        msg.max_enqueued_batches.value = self.max_enqueued_batches
        msg.num_batch_threads.value = self.num_batch_threads
        msg.allowed_batch_sizes.extend(self.allowed_batch_sizes)
        msg.pad_variable_length_inputs = self.pad_variable_length_inputs
        return msg

    @classmethod
    def from_proto(cls, msg: Any) -> BatchingOptions:
        """Options from a ``BatchingParameters`` message; unset fields keep our defaults."""
        kwargs: dict[str, Any] = {}
        for key in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                    "num_batch_threads"):
            if msg.HasField(key):
                kwargs[key] = int(getattr(msg, key).value)
        kwargs["allowed_batch_sizes"] = tuple(int(s) for s in msg.allowed_batch_sizes)
        kwargs["pad_variable_length_inputs"] = bool(msg.pad_variable_length_inputs)
        return cls(**kwargs)


def write_batching_parameters(path: Path, options: BatchingOptions | None = None) -> Path:
    """Writes a text-format ``BatchingParameters`` file; returns its path."""
    options = options or BatchingOptions()
    atomic_write_text(Path(path), text_format.MessageToString(options.to_proto()))
    return Path(path)


def read_batching_parameters(path: Path) -> BatchingOptions:
    """Parses a text-format ``BatchingParameters`` file."""
    from serving import protos

    path = Path(path)
    try:
        msg = text_format.Parse(path.read_text(), protos.batching_parameters_class()())
    except (OSError, text_format.ParseError) as e:
        raise ServingConfigError(f"{path} is not a text-format BatchingParameters: {e}") from e
    return BatchingOptions.from_proto(msg)


def write_monitoring_config(path: Path, metrics_path: str = PROMETHEUS_PATH) -> Path:
    """Writes a text-format ``MonitoringConfig`` enabling Prometheus at ``metrics_path``."""
    from serving import protos

    msg = protos.monitoring_config_class()()
    msg.prometheus_config.enable = True
    msg.prometheus_config.path = metrics_path
    atomic_write_text(Path(path), text_format.MessageToString(msg))
    return Path(path)


def read_monitoring_config(path: Path) -> Any:
    """Parses a text-format ``MonitoringConfig`` file."""
    from serving import protos

    path = Path(path)
    try:
        return text_format.Parse(path.read_text(), protos.monitoring_config_class()())
    except (OSError, text_format.ParseError) as e:
        raise ServingConfigError(f"{path} is not a text-format MonitoringConfig: {e}") from e


def server_flags(
    serving_root: Path,
    *,
    grpc_port: int = 8500,
    rest_port: int = 8501,
    batching: bool = True,
    poll_seconds: int = 1,
    config_poll_seconds: int = 60,
) -> list[str]:
    """The ``tensorflow_model_server`` flags for a serving root (also valid for dlpipe serve)."""
    root = Path(serving_root).absolute()
    flags = [
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--model_config_file={root / MODELS_CONFIG}",
        f"--model_config_file_poll_wait_seconds={config_poll_seconds}",
        f"--file_system_poll_wait_seconds={poll_seconds}",
        f"--monitoring_config_file={root / MONITORING_FILE}",
    ]
    if batching:
        flags += ["--enable_batching=true", f"--batching_parameters_file={root / BATCHING_FILE}"]
    return flags


def write_deployment(
    serving_root: Path,
    models: Sequence[ServedModel | str],
    *,
    batching: BatchingOptions | None = None,
    grpc_port: int = 8500,
    rest_port: int = 8501,
    host: str = "127.0.0.1",
    image: str = TF_SERVING_IMAGE,
) -> dict[str, Path]:
    """Writes every TF Serving deployment file into ``serving_root``.

    Files: ``models.config``, ``batching_parameters.pbtxt``, ``monitoring.config``,
    ``docker-compose.yml`` (official ``tensorflow/serving`` image, the serving root mounted
    read-only at the same path, ports published on ``host`` only), ``run_tf_serving.sh``
    (the same with ``docker run``) and ``run_dlpipe_serve.sh`` (the embedded server with
    the same flags).

    Returns:
      File kind -> path.
    """
    import yaml

    root = Path(serving_root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    batching = batching or BatchingOptions()
    paths = {
        "models_config": write_models_config(root, models),
        "batching": write_batching_parameters(root / BATCHING_FILE, batching),
        "monitoring": write_monitoring_config(root / MONITORING_FILE),
    }
    flags = server_flags(root, grpc_port=grpc_port, rest_port=rest_port)
    compose = {
        "services": {
            "tf-serving": {
                "image": image,
                "entrypoint": ["tensorflow_model_server"],
                "command": flags,
                "ports": [f"{host}:{grpc_port}:{grpc_port}", f"{host}:{rest_port}:{rest_port}"],
                "volumes": [f"{root}:{root}:ro"],
                "restart": "unless-stopped",
                "healthcheck": {
                    "test": ["CMD-SHELL", f"curl -fsS http://localhost:{rest_port}/v1/models/"
                             f"{_first_name(models)} || exit 1"],
                    "interval": "10s",
                    "timeout": "3s",
                    "retries": 3,
                },
            }
        }
    }
    paths["compose"] = root / COMPOSE_FILE
    atomic_write_text(paths["compose"], yaml.safe_dump(compose, sort_keys=False))

    quoted = " \\\n  ".join(shlex.quote(f) for f in flags)
    docker = (
        "#!/usr/bin/env bash\n"
        "# TF Serving (official image) on this serving root; generated by dlpipe.\n"
        "set -euo pipefail\n"
        f"exec docker run --rm --name dlpipe-tf-serving \\\n"
        f"  -p {host}:{grpc_port}:{grpc_port} -p {host}:{rest_port}:{rest_port} \\\n"
        f"  -v {shlex.quote(str(root))}:{shlex.quote(str(root))}:ro \\\n"
        f"  --entrypoint tensorflow_model_server {shlex.quote(image)} \\\n  {quoted} \"$@\"\n"
    )
    paths["run_script"] = root / RUN_SCRIPT
    atomic_write_text(paths["run_script"], docker, mode=0o755)
    embedded = (
        "#!/usr/bin/env bash\n"
        "# The embedded server with the same flags (no Docker needed); generated by dlpipe.\n"
        "set -euo pipefail\n"
        f"exec dlpipe serve --rest_api_host={shlex.quote(host)} --host={shlex.quote(host)} "
        f"\\\n  {quoted} \"$@\"\n"
    )
    paths["embedded_run_script"] = root / EMBEDDED_RUN_SCRIPT
    atomic_write_text(paths["embedded_run_script"], embedded, mode=0o755)
    return paths


def _first_name(models: Sequence[ServedModel | str]) -> str:
    first = models[0] if models else "model"
    return first if isinstance(first, str) else first.name
