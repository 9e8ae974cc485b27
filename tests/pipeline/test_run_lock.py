"""One run per pipeline root, and runs whose process died told from live ones (issue 12).

The run lock is taken by real processes (a second ``dlpipe run``, a holder killed with
SIGKILL); the run history is read from a real ML Metadata store holding the contexts and
executions a TFX run registers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.config import load_config
from pipeline.runner import RunLock, lock_holder, settle_dead_runs
from tests.conftest import REPO

CONFIG = REPO / "pipeline" / "configs" / "digits_cnn.yaml"
HOLD = ("import sys, time; from pathlib import Path; from pipeline.runner import RunLock; "
        "lock = RunLock(Path(sys.argv[1])); lock.acquire(); lock.set_run_id(sys.argv[2]); "
        "print('locked', flush=True); time.sleep(600)")


@pytest.fixture
def config(tmp_path: Path):
    return load_config(CONFIG, [f"output_root={tmp_path / 'out'}"])


@pytest.fixture
def holder(config):
    """Another process holding the pipeline root's run lock, as run 20260101T000000.000001."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(config.pipeline_root),
                             "20260101T000000.000001"], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_a_second_run_on_the_same_root_says_who_holds_it_and_exits_1(config, holder,
                                                                      capsys) -> None:
    code = cli.main(["run", "--config", str(CONFIG), "--set",
                     f"output_root={config.root}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1, err
    assert err[0].startswith(f"dlpipe run: error: Another dlpipe run is using "
                             f"{config.pipeline_root} (pid {holder.pid} on "
                             f"{socket.gethostname()}, started 20")
    assert "run 20260101T000000.000001" in err[0] and f"kill -TERM {holder.pid}" in err[0]
    assert not (config.pipeline_root / "_runs").exists()  # nothing of the second run


def test_the_lock_of_a_killed_run_is_free(config, holder) -> None:
    live = lock_holder(config.pipeline_root)
    assert live is not None and live.pid == holder.pid
    assert live.run_id == "20260101T000000.000001"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert lock_holder(config.pipeline_root) is None
    with RunLock(config.pipeline_root) as lock:
        assert lock_holder(config.pipeline_root).pid == os.getpid() == lock.holder.pid


# ----- run history ---------------------------------------------------------------------------
def _record_runs(config, runs: dict[str, str]) -> dict[str, int]:
    """An MLMD store where each run has one execution of ``runs[run]``'s node, left in the
    state a killed process leaves it (RUNNING), as TFX's launcher registers it. Returns the
    execution id of each run."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.metadata import open_store

    store = open_store(config)
    types = {name: store.put_context_type(pb.ContextType(name=name))
             for name in ("pipeline", "pipeline_run", "node")}
    execution_type = store.put_execution_type(pb.ExecutionType(name="tfx.Component"))
    [pipeline_ctx] = store.put_contexts([pb.Context(type_id=types["pipeline"],
                                                    name=config.name)])
    ids, nodes = {}, {}
    for run, node in runs.items():
        if node not in nodes:  # TFX names a node's context <pipeline>.<node id>
            [nodes[node]] = store.put_contexts([
                pb.Context(type_id=types["node"], name=f"{config.name}.{node}")])
        node_ctx = nodes[node]
        [run_ctx] = store.put_contexts([pb.Context(type_id=types["pipeline_run"], name=run)])
        [execution] = store.put_executions([pb.Execution(
            type_id=execution_type, last_known_state=pb.Execution.RUNNING)])
        store.put_attributions_and_associations([], [
            pb.Association(context_id=c, execution_id=execution)
            for c in (pipeline_ctx, run_ctx, node_ctx)])
        ids[run] = execution
    return ids


def _states(config) -> dict[str, str]:
    from pipeline.history import list_runs
    from pipeline.metadata import open_store

    return {r.run_id: (f"{r.state} ({r.failed_node})" if r.failed_node else r.state)
            for r in list_runs(config, open_store(config, readonly=True))}


def test_runs_tells_a_dead_run_from_the_live_one(config) -> None:
    ids = _record_runs(config, {"R1": "Trainer", "R2": "Evaluator"})
    assert _states(config) == {"R1": "died", "R2": "died"}
    with RunLock(config.pipeline_root) as lock:
        lock.set_run_id("R2")
        assert _states(config) == {"R1": "died", "R2": "running"}
    # The next run (holding the lock) records the dead runs' end for good and removes the
    # empty output directories their unfinished components left, keeping any with files.
    empty = config.pipeline_root / "Trainer" / "model" / str(ids["R1"])
    run_dir = config.pipeline_root / "Trainer" / "model_run" / str(ids["R1"])
    empty.mkdir(parents=True)
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "logs" / "events").write_text("partial")
    from pipeline.metadata import open_store

    with RunLock(config.pipeline_root) as lock:
        lock.set_run_id("R3")
        lines = settle_dead_runs(config, open_store(config), "R3")
    assert lines == [
        "Run R1 died during Trainer (its process ended without recording how); marked "
        "'died', removed 1 empty output directory",
        "Run R2 died during Evaluator (its process ended without recording how); marked "
        "'died'",
    ]
    assert not empty.exists() and run_dir.exists()
    assert _states(config) == {"R1": "died (Trainer)", "R2": "died (Evaluator)"}


def test_runs_prints_its_table_without_tensorflow_warnings(config) -> None:
    """``dlpipe runs`` reads eval metrics with TFMA, whose reader TensorFlow logs as
    deprecated; the table must come alone."""
    import tensorflow as tf
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.metadata import open_store

    ids = _record_runs(config, {"R1": "Evaluator"})
    evaluation = config.pipeline_root / "Evaluator" / "evaluation" / str(ids["R1"])
    evaluation.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(evaluation / "metrics")):
        pass  # an evaluation with no metrics is enough for TFMA's reader to warn
    store = open_store(config)
    artifact_type = store.put_artifact_type(pb.ArtifactType(name="ModelEvaluation"))
    [artifact] = store.put_artifacts([pb.Artifact(type_id=artifact_type, uri=str(evaluation))])
    event = pb.Event(artifact_id=artifact, execution_id=ids["R1"], type=pb.Event.OUTPUT)
    event.path.steps.add().key = "evaluation"
    store.put_events([event])
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dlpipe")), "runs", "--config", str(CONFIG),
         "--set", f"output_root={config.root}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    output = (result.stdout + result.stderr).strip().splitlines()
    assert output[0].split() == ["run", "id", "started", "took", "state", "span", "blessed",
                                 "pushed", "accuracy"], output
    assert output[1].split()[0] == "R1" and " died " in output[1]
    assert len(output) == 2, output
