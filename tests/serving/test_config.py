"""Generated TF Serving files parse with the official protos and say what we asked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import config as config_lib
from serving.config import BatchingOptions, ServedModel, ServingConfigError


def _parse_models_config(path: Path) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())


def test_models_config_parses_with_the_official_proto(tmp_path: Path) -> None:
    path = config_lib.write_models_config(tmp_path, [
        ServedModel("digits", num_versions=2, labels={"stable": 3, "canary": 4}),
        ServedModel("penguins", version_policy="all"),
        ServedModel("taxi", version_policy="specific", versions=(5, 2),
                    base_path="/srv/other/taxi"),
    ])
    assert path == tmp_path / "models.config"
    cfg = {c.name: c for c in _parse_models_config(path).model_config_list.config}
    assert sorted(cfg) == ["digits", "penguins", "taxi"]
    digits = cfg["digits"]
    assert digits.base_path == str(tmp_path / "digits")
    assert digits.model_platform == "tensorflow"
    assert digits.model_version_policy.latest.num_versions == 2
    assert dict(digits.version_labels) == {"stable": 3, "canary": 4}
    assert cfg["penguins"].model_version_policy.WhichOneof("policy_choice") == "all"
    assert list(cfg["taxi"].model_version_policy.specific.versions) == [2, 5]
    assert cfg["taxi"].base_path == "/srv/other/taxi"


def test_models_config_is_idempotent_and_keeps_other_models(tmp_path: Path) -> None:
    path = config_lib.write_models_config(tmp_path, ["digits"])
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(mtime - 10**9, mtime - 10**9))
    before = path.stat().st_mtime_ns
    config_lib.write_models_config(tmp_path, ["digits"])
    assert path.stat().st_mtime_ns == before, "an unchanged config must not be rewritten"

    config_lib.write_models_config(tmp_path, [ServedModel("other", labels={"stable": 1})])
    names = [c.name for c in _parse_models_config(path).model_config_list.config]
    assert names == ["digits", "other"]
    config_lib.write_models_config(tmp_path, ["other"], keep_other_models=False)
    names = [c.name for c in _parse_models_config(path).model_config_list.config]
    assert names == ["other"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp file left"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "bad name"}, "Model name must match"),
        ({"name": "m", "version_policy": "newest"}, "version_policy must be one of"),
        ({"name": "m", "num_versions": 0}, "num_versions must be >= 1"),
        ({"name": "m", "version_policy": "specific"}, "needs at least one version"),
        ({"name": "m", "labels": {"not-ok": 1}}, "Version labels must match"),
    ],
)
def test_invalid_model_entries_name_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ServingConfigError, match=message):
        ServedModel(**kwargs)


def test_duplicate_models_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ServingConfigError, match="duplicates: \\['a'\\]"):
        config_lib.write_models_config(tmp_path, ["a", ServedModel("a")])


def test_batching_and_monitoring_files_round_trip(tmp_path: Path) -> None:
    from serving import protos

    options = BatchingOptions(max_batch_size=32, batch_timeout_micros=2000,
                              max_enqueued_batches=8, num_batch_threads=2,
                              allowed_batch_sizes=(8, 16, 32))
    path = config_lib.write_batching_parameters(tmp_path / "batching.pbtxt", options)
    msg = text_format.Parse(path.read_text(), protos.batching_parameters_class()())
    assert msg.max_batch_size.value == 32
    assert msg.batch_timeout_micros.value == 2000
    assert list(msg.allowed_batch_sizes) == [8, 16, 32]
    assert config_lib.read_batching_parameters(path) == options

    mon = config_lib.write_monitoring_config(tmp_path / "monitoring.config")
    parsed = text_format.Parse(mon.read_text(), protos.monitoring_config_class()())
    assert parsed.prometheus_config.enable
    assert parsed.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_batching_options_are_validated() -> None:
    with pytest.raises(ServingConfigError, match="must increase and end with max_batch_size"):
        BatchingOptions(max_batch_size=32, allowed_batch_sizes=(8, 16))
    with pytest.raises(ServingConfigError, match="num_batch_threads must be >= 1"):
        BatchingOptions(num_batch_threads=0)


def test_deployment_files_use_the_official_image_and_the_same_paths(tmp_path: Path) -> None:
    paths = config_lib.write_deployment(tmp_path, [ServedModel("digits")])
    compose = yaml.safe_load(paths["compose"].read_text())
    service = compose["services"]["tf-serving"]
    assert service["image"].startswith("tensorflow/serving:")
    assert service["volumes"] == [f"{tmp_path}:{tmp_path}:ro"]
    assert service["ports"] == ["127.0.0.1:8500:8500", "127.0.0.1:8501:8501"]
    flags = dict(f[2:].split("=", 1) for f in service["command"])
    # Every file named by a flag exists and parses with the official protos.
    _parse_models_config(Path(flags["model_config_file"]))
    config_lib.read_batching_parameters(Path(flags["batching_parameters_file"]))
    config_lib.read_monitoring_config(Path(flags["monitoring_config_file"]))
    assert flags["enable_batching"] == "true"
    for key in ("run_script", "embedded_run_script"):
        text = paths[key].read_text()
        assert os.access(paths[key], os.X_OK)
        assert f"--model_config_file={tmp_path}/models.config" in text
    assert "tensorflow/serving:" in paths["run_script"].read_text()


def test_embedded_server_accepts_the_generated_flags(tmp_path: Path) -> None:
    from pipeline.cli import build_parser
    from serving.commands.serve import options_from_args

    config_lib.write_deployment(tmp_path, [ServedModel("digits", labels={"stable": 1})])
    flags = config_lib.server_flags(tmp_path)
    options = options_from_args(build_parser().parse_args(["serve", *flags]))
    assert options.grpc_port == 8500 and options.rest_port == 8501
    assert options.host == "127.0.0.1"
    assert options.batching == BatchingOptions()
    assert options.metrics_path == "/monitoring/prometheus/metrics"
    models = options.models()
    assert [(m.name, dict(m.labels)) for m in models] == [("digits", {"stable": 1})]


def test_unreadable_config_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "models.config"
    bad.write_text("model_config_list { config { nme: 'x' } }")
    with pytest.raises(ServingConfigError, match="is not a text-format ModelServerConfig"):
        config_lib.read_models_config(bad)
