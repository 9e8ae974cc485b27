"""The whole default pipeline on Beam's PortableRunner, as on a Flink or Spark cluster: Beam's
local job service and a dlpipe worker pool, each its own process on loopback, started here.

One run serves every assertion: blessed and pushed; each Beam-based component's bundles
were processed in the pool's worker processes (none is the driver), and the workers ran the
dlpipe wheel the driver staged (``--extra_package``), not the checkout. The same run trains
under ``train.distribution: mirrored`` on 2 logical CPU devices (sharing one run keeps the
suite's time down): that model is infra-validated (served over REST and gRPC), pushed and
converted like any other.
"""

from __future__ import annotations

import json

import pytest

from pipeline.beam.local import local_cluster
from pipeline.run_state import RUN_LOCK_FILE
from tests.conftest import REPO, run_cli
from tests.e2e.helpers import dlpipe_run, node_states

pytestmark = pytest.mark.e2e

COMPLETE = 3  # ml_metadata Execution.State
# A top-level transform of each Beam-based component's job (their Beam labels).
COMPONENT_TRANSFORMS = {
    "ImportExampleGen": "InputToRecord",
    "StatisticsGen": "GenerateStatistics[train]",
    "Transform": "Analyze",
    "Evaluator": "ExtractEvaluateAndWriteResults",
}


@pytest.fixture(scope="module")
def portable(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable")
    with local_cluster(root / "beam") as cluster:
        result, run_id, config = dlpipe_run(
            run_cli, root / "out", *cluster.overrides(), "train.train_steps=120",
            "train.epochs=1", "train.distribution=mirrored", "train.cpu_devices=2",
            "edge.formats=[float32]", "infra_validate.num_examples=8")
    # Read after the cluster stopped: each worker writes its record when it ends.
    driver = json.loads((config.pipeline_root / RUN_LOCK_FILE).read_text())["pid"]
    return result, run_id, config, cluster.worker_records(), driver


def test_default_pipeline_on_the_portable_runner_is_blessed_and_pushed(portable):
    result, run_id, config, _, _ = portable
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    states = node_states(config, run_id)
    for node in COMPONENT_TRANSFORMS:
        assert states[node] == [COMPLETE], (node, states[node])
    assert (config.edge_root / "digits" / "1" / "model_float32.tflite").is_file()


def test_beam_work_ran_in_worker_processes_on_the_staged_wheel(portable):
    result, _, config, records, driver = portable
    assert result.returncode == 0, result.stdout + result.stderr
    assert records, "no worker recorded anything"
    assert driver not in {r["pid"] for r in records}
    for node, transform in COMPONENT_TRANSFORMS.items():
        ran = [r for r in records if r["bundles"].get(transform)]
        assert ran, f"no worker processed {transform} ({node}): {[r['bundles'] for r in records]}"
    for record in records:
        # Every worker installed the wheel the driver built from this checkout...
        assert record["staged"] == ["dlpipe-0.1.0-py3-none-any.whl"], record["staged"]
        ours = {name: path for name, path in record["modules"].items()
                if name.split(".")[0] in ("dlpipe", "pipeline", "models", "components")}
        # ...and imported dlpipe's modules from it, never from the checkout.
        assert all(path.startswith(record["site"]) for path in ours.values()), ours
        assert not any(path.startswith(str(REPO)) for path in ours.values()), ours
    # Transform traces the preprocessing_fn inside a worker: our code ran there.
    assert any("models.tasks.transform" in r["modules"] for r in records)
    wheels = list((config.root / "beam" / "wheels").glob("*/dlpipe-*.whl"))
    assert len(wheels) == 1, wheels


def test_mirrored_trainer_on_two_cpu_devices_serves_and_converts(portable):
    result, run_id, config, _, _ = portable
    assert result.returncode == 0, result.stdout + result.stderr
    log = (config.pipeline_root / "_runs" / run_id / "pipeline.log").read_text()
    assert "Training under MirroredStrategy: 2 replicas (/device:CPU:0, /device:CPU:1)" in log
    states = node_states(config, run_id)
    assert states["Trainer"] == [COMPLETE] and states["InfraValidator"] == [COMPLETE]
    edge = json.loads((config.edge_root / "digits" / "1" / "metadata.json").read_text())
    assert edge["formats"]["float32"]["blessed"], edge["formats"]["float32"]
