"""Beam runners by configuration: the keys checked at load, the arguments each runner gets,
dlpipe's wheel for the workers, the worker pool on loopback. The whole pipeline on the
portable runner is tests/e2e/test_portable.py."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from pipeline.beam import package
from pipeline.beam.boot import packages_to_install
from pipeline.beam.options import WORKERS_USE_THIS_ENVIRONMENT, pipeline_args, stages_wheel
from pipeline.config import ConfigError, load_config

PORTABLE = ["beam.runner=PortableRunner", "beam.job_endpoint=localhost:8099"]


def test_portable_runner_arguments():
    config = load_config(overrides=[*PORTABLE, "beam.environment_type=EXTERNAL",
                                    "beam.environment_config=localhost:50000"])
    assert config.beam_args() == [
        "--runner=PortableRunner", "--job_endpoint=localhost:8099",
        "--environment_type=EXTERNAL", "--environment_config=localhost:50000",
        # Beam's default (60 s) ends every job longer than a minute (bench/scale.py)
        "--job_server_timeout=86400"]
    assert stages_wheel(config.beam)


def test_process_environment_defaults_to_the_boot_command_beside_this_python():
    import sys
    from pathlib import Path

    config = load_config(overrides=[*PORTABLE, "beam.environment_type=PROCESS"])
    flag = config.beam_args()[-2]
    assert flag.startswith("--environment_config=")
    command = json.loads(flag.split("=", 1)[1])["command"]
    assert command == str(Path(sys.executable).parent / "dlpipe-beam-boot")
    given = load_config(overrides=[*PORTABLE, "beam.environment_type=PROCESS",
                                   "beam.environment_config=/opt/venv/bin/dlpipe-beam-boot"])
    assert json.loads(given.beam_args()[-2].split("=", 1)[1]) == {
        "command": "/opt/venv/bin/dlpipe-beam-boot"}


def test_direct_runner_modes_and_loopback_stage_nothing():
    config = load_config(overrides=["beam.direct_running_mode=multi_processing",
                                    "beam.direct_num_workers=0"])
    assert config.beam_args() == ["--runner=DirectRunner", "--direct_num_workers=0",
                                  "--direct_running_mode=multi_processing"]
    # No wheel for workers in this environment; the flag that keeps TFX from building its own.
    assert pipeline_args(config) == [*config.beam_args(), WORKERS_USE_THIS_ENVIRONMENT]
    loopback = load_config(overrides=[*PORTABLE, "beam.environment_type=LOOPBACK"])
    assert not stages_wheel(loopback.beam)
    assert pipeline_args(loopback) == [*loopback.beam_args(), WORKERS_USE_THIS_ENVIRONMENT]
    off = load_config(overrides=[*PORTABLE, "beam.environment_type=DOCKER",
                                 "beam.sdk_container_image=dlpipe-beam-worker:1",
                                 "beam.stage_wheel=false"])
    assert pipeline_args(off) == off.beam_args()


@pytest.mark.parametrize("overrides", [
    [],
    ["beam.direct_running_mode=multi_processing"],
    [*PORTABLE, "beam.environment_type=LOOPBACK"],
    [*PORTABLE, "beam.environment_type=EXTERNAL", "beam.environment_config=localhost:5"],
])
def test_tfx_builds_no_package_of_itself_for_the_workers(overrides, tmp_path, monkeypatch):
    """TFX's own check, run on the arguments every Beam-based component gets: without one of
    Beam's dependency flags it would copy TFX into a new temporary directory and build an
    sdist there, for every component of every run, and never delete it."""
    from tfx.utils.dependency_utils import make_beam_dependency_flags

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # tempfile caches the directory
    config = load_config(overrides=[f"output_root={tmp_path / 'out'}", *overrides])
    args = pipeline_args(config)
    assert make_beam_dependency_flags(args) == args
    assert not list(tmp_path.glob("*/build/tfx"))


def test_a_users_dependency_flag_is_kept_as_given():
    config = load_config(overrides=["beam.extra_args=['--requirements_file=/r.txt']"])
    assert pipeline_args(config) == config.beam_args()


@pytest.mark.parametrize("overrides, message", [
    (["beam.runner=PortableRunner"],
     "Config key 'beam.job_endpoint' must be set when beam.runner='PortableRunner'. "
     "Received: beam.job_endpoint=''."),
    (PORTABLE,
     "Config key 'beam.environment_type' must be set when beam.runner='PortableRunner'. "
     "Received: beam.environment_type=''."),
    (["beam.runner=PortableRunner", "beam.job_endpoint=localhost",
      "beam.environment_type=LOOPBACK"],
     "Config key 'beam.job_endpoint' must be host:port, e.g. 'localhost:8099'. "
     "Received: beam.job_endpoint='localhost'."),
    ([*PORTABLE, "beam.environment_type=EXTERNAL"],
     "Config key 'beam.environment_config' must be the worker pool's host:port when "
     "beam.environment_type='EXTERNAL' (`dlpipe beam-worker-pool` prints it). "
     "Received: beam.environment_config=''."),
    ([*PORTABLE, "beam.environment_type=EXTERNAL", "beam.environment_config=pool:http"],
     "Config key 'beam.environment_config' must be host:port, e.g. 'localhost:8099'. "
     "Received: beam.environment_config='pool:http'."),
    ([*PORTABLE, "beam.environment_type=PROCESS", 'beam.environment_config="{\\"cmd\\": 1}"'],
     "Config key 'beam.environment_config' must be a command's path or JSON such as "
     "{\"command\": \"/venv/bin/dlpipe-beam-boot\"} when beam.environment_type='PROCESS'. "
     "Received: beam.environment_config='{\"cmd\": 1}'."),
    ([*PORTABLE, "beam.environment_type=DOCKER"],
     "Config key 'beam.sdk_container_image' must name the worker image when "
     "beam.environment_type='DOCKER'. Received: beam.sdk_container_image=''."),
    ([*PORTABLE, "beam.environment_type=LOOPBACK", "beam.direct_running_mode=multi_processing"],
     "Config key 'beam.direct_running_mode' applies to beam.runner='DirectRunner'; "
     "beam.runner is 'PortableRunner'. Received: beam.direct_running_mode='multi_processing'."),
    (["beam.direct_num_workers=-1"],
     "Config key 'beam.direct_num_workers' must be >= 0. Received: beam.direct_num_workers=-1."),
    (["beam.direct_running_mode=multi_process"],
     "Config key 'beam.direct_running_mode' must be one of 'in_memory', 'multi_threading', "
     "'multi_processing'. Received: beam.direct_running_mode='multi_process'."),
    (["beam.environment_type=EXTERNAL"],
     "Config key 'beam.environment_type' applies to PortableRunner, FlinkRunner, SparkRunner "
     "or DataflowRunner, not beam.runner='DirectRunner'. Received: "
     "beam.environment_type='EXTERNAL'."),
    (["beam.runner=Portable"],
     "Config key 'beam.runner' must be one of 'DirectRunner', 'PortableRunner', "
     "'DataflowRunner', 'FlinkRunner', 'SparkRunner'. Received: beam.runner='Portable'."),
    (["beam.stage_wheel=sometimes"], "Config key 'beam.stage_wheel' must be bool."),
])
def test_bad_beam_config_is_one_line_with_key_value_and_expectation(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=overrides)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_project_wheel_holds_the_code_and_is_rebuilt_when_it_changes(tmp_path):
    source = tmp_path / "src"
    for rel in package.source_files():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(package.SOURCE_ROOT / rel, source / rel)
    wheel = package.project_wheel(tmp_path / "wheels", root=source)
    names = zipfile.ZipFile(wheel).namelist()
    assert {"pipeline/beam/boot.py", "models/tasks/transform.py",
            "pipeline/configs/digits_cnn.yaml"} <= set(names)
    assert not any(n.startswith("tests/") for n in names)
    assert not (source / "build").exists()  # built from a scratch copy
    assert package.project_wheel(tmp_path / "wheels", root=source) == wheel  # cached
    (source / "models" / "tasks" / "transform.py").write_text(
        (source / "models" / "tasks" / "transform.py").read_text() + "\n# changed\n")
    rebuilt = package.project_wheel(tmp_path / "wheels", root=source)
    assert rebuilt != wheel and rebuilt.parent.parent == wheel.parent.parent


def test_no_source_tree_says_how_to_run_without_the_wheel(tmp_path):
    from dlpipe.errors import DlpipeError

    with pytest.raises(DlpipeError, match="Set beam.stage_wheel=false when the workers' "
                                          "image holds dlpipe"):
        package.project_wheel(tmp_path / "wheels", root=tmp_path)


def test_staged_packages_install_in_beams_order(tmp_path):
    (tmp_path / "extra_packages.txt").write_text("dlpipe-0.1.0-py3-none-any.whl\n")
    (tmp_path / "requirements.txt").write_text("# pinned\nsix==1.16.0\n")
    names = ["six-1.16.0.tar.gz", "requirements.txt", "dlpipe-0.1.0-py3-none-any.whl",
             "extra_packages.txt", "workflow.tar.gz", "submission_environment_dependencies.txt"]
    assert [p.name for p in packages_to_install(tmp_path, names)] == [
        "six-1.16.0.tar.gz", "dlpipe-0.1.0-py3-none-any.whl", "workflow.tar.gz"]


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp* has them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
                found.append(local.split(":")[0])
    return found


def test_worker_pool_listens_on_loopback_only_by_default(tmp_path):
    from pipeline.beam.worker_pool import start

    address, server, _ = start(port=0, work_dir=tmp_path)
    try:
        port = int(address.rsplit(":", 1)[1])
        assert address == f"localhost:{port}"
        # 127.0.0.1 (gRPC may bind it as the IPv4-mapped ::ffff:127.0.0.1), nothing else.
        loopback = {"0100007F", "0000000000000000FFFF00000100007F"}
        assert _listening(port) and set(_listening(port)) <= loopback, _listening(port)
    finally:
        server.stop(None)
