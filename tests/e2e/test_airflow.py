"""The exported Airflow DAG run end to end by a real Airflow 2.10 (`airflow dags test`).

Airflow runs from its own venv (``.venv-airflow``, built by .ci/run from
requirements-airflow.lock: the main lock plus Airflow core, apart from three pins Airflow
cannot take). The DAG is TFX's AirflowDagRunner over the default config, one Airflow task per
TFX node; the DAG file is written here with the same ``render_dag`` that `dlpipe export
airflow` uses. One run serves the assertions: every task succeeded, each TFX node executed once
in ML Metadata, the model was blessed and pushed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.orchestrators import airflow

AIRFLOW_PYTHON = os.environ.get("DLPIPE_AIRFLOW_PYTHON", "")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not AIRFLOW_PYTHON, reason=(
        "Airflow is not in this venv (its pins differ: requirements-airflow.lock); set "
        "DLPIPE_AIRFLOW_PYTHON to the Python of a venv built from it, as .ci/run does")),
]

NODES = {"ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator",
         "ValidationGate", "Transform", "Trainer", "latest_blessed_model_resolver",
         "Evaluator", "InfraValidator", "Pusher", "EdgeExport", "EdgePusher"}
OVERRIDES = ["train.train_steps=120", "train.epochs=1", "edge.formats=[float32]",
             "infra_validate.num_examples=8"]


@pytest.fixture(scope="module")
def dags_test(tmp_path_factory):
    from pipeline.tasks import prepare

    home = tmp_path_factory.mktemp("airflow")
    config = load_config(overrides=[f"output_root={home / 'out'}", *OVERRIDES])
    dag_file = home / "dags" / "dlpipe_digits.py"
    dag_file.parent.mkdir()
    dag_file.write_text(airflow.render_dag(config, prepare(config).task, every="1d"))
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER":
           str(dag_file.parent), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    command = str(Path(AIRFLOW_PYTHON).with_name("airflow"))
    migrate = subprocess.run([command, "db", "migrate"], env=env, capture_output=True,
                             text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    result = subprocess.run([command, "dags", "test", config.name], env=env,
                            capture_output=True, text=True, timeout=1200)
    return result, config


def test_airflow_imports_the_dag_and_runs_every_node(dags_test):
    result, config = dags_test
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-5000:]
    succeeded = set(re.findall(r"Marking task as SUCCESS\. dag_id=digits_cnn, task_id=(\w+)",
                               out))
    assert succeeded == NODES, succeeded ^ NODES
    assert re.search(r"DagRun Finished: dag_id=digits_cnn, .* state=success", out)


def test_the_dag_run_blessed_and_pushed_the_model(dags_test):
    from pipeline.summary import metadata_store

    result, config = dags_test
    assert result.returncode == 0
    store = metadata_store(config)
    executed = [e.properties["component_id"].string_value for e in store.get_executions()]
    assert sorted(executed) == sorted(NODES)  # each node once, recorded by TFX's launcher
    [blessing] = store.get_artifacts_by_type("ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 1
    assert (config.serving_model_dir / "1" / "saved_model.pb").is_file()
    assert (config.edge_root / "digits" / "1" / "model_float32.tflite").is_file()
