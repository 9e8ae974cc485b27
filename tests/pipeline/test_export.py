"""`dlpipe export`: the Kubeflow spec KFP can load, the Airflow DAG file, missing targets."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from pipeline.config import load_config
from pipeline.orchestrators import airflow


def test_kubeflow_spec_is_a_pipeline_job_on_the_project_image(cli, tmp_path):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    out = tmp_path / "spec.json"
    result = cli("export", "kubeflow", "--set", f"output_root={tmp_path / 'root'}",
                 "--cron", "0 3 * * *", "--image", "registry.example/dlpipe:1", "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'create_schedule(cron="0 3 * * *"' in result.stdout
    job = json_format.ParseDict(json.loads(out.read_text()), pipeline_spec_pb2.PipelineJob(),
                                ignore_unknown_fields=False)
    spec = json_format.ParseDict(json_format.MessageToDict(job.pipeline_spec),
                                 pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == "digits-cnn"
    executors = spec.deployment_spec.fields["executors"].struct_value.fields
    assert {"Trainer_executor", "Evaluator_executor", "Pusher_executor",
            "ValidationGate_executor", "EdgeExport_executor",
            "EdgePusher_executor"} <= set(executors)
    # The edge artifacts travel under KFP v2's custom type names (namespace.Name).
    edge_outputs = spec.components["EdgeExport"].output_definitions.artifacts
    assert "title: dlpipe.EdgeModels" in edge_outputs["edge_models"].artifact_type.instance_schema
    # Where the steps read the input: the data directory under output_root.
    assert f"input: the steps read {tmp_path / 'root' / 'data' / 'sklearn_digits'};" in (
        result.stdout)
    images = {e.struct_value.fields["container"].struct_value.fields["image"].string_value
              for e in executors.values() if "container" in e.struct_value.fields}
    assert images == {"registry.example/dlpipe:1"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


KFP_PYTHON = os.environ.get("DLPIPE_KFP_PYTHON", "")


@pytest.mark.skipif(
    importlib.util.find_spec("kfp.compiler") is None and not KFP_PYTHON,
    reason="the kfp SDK needs protobuf>=4 / urllib3<2 and cannot share this venv's pins; set "
           "DLPIPE_KFP_PYTHON to a Python with kfp installed (see README, 'Exports')",
)
def test_kfp_sdk_loads_the_spec(cli, tmp_path):
    out = tmp_path / "spec.json"
    result = cli("export", "kubeflow", "--set", f"output_root={tmp_path / 'root'}", "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    # The file is a PipelineJob (what Vertex AI submits); the KFP SDK loads its PipelineSpec.
    code = ("import sys, json, kfp.components as c;"
            "job = json.load(open(sys.argv[1]));"
            "comp = c.load_component_from_text(json.dumps(job['pipelineSpec']));"
            "print(comp.name, *sorted(comp.pipeline_spec.root.dag.tasks))")
    loaded = subprocess.run([KFP_PYTHON or sys.executable, "-c", code, str(out)],
                            capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    name, *tasks = loaded.stdout.split()
    assert name == "digits-cnn", loaded.stdout
    assert {"Trainer", "Evaluator", "Pusher", "EdgeExport", "EdgePusher"} <= set(tasks), tasks


def test_airflow_dag_source_embeds_config_and_schedule(tmp_path):
    from pipeline.tasks import prepare

    config = load_config(overrides=[f"output_root={tmp_path}", "train.train_steps=42"])
    task = prepare(config).task
    source = airflow.render_dag(config, task, cron="0 3 * * *")
    tree = ast.parse(source)  # valid Python
    assert "'schedule_interval': '0 3 * * *'" in source.replace('"', "'")
    assert '"catchup": False' in source and '"max_active_runs": 1' in source
    config_node = next(n for n in tree.body if isinstance(n, ast.Assign)
                       and n.targets[0].id == "CONFIG")
    import yaml

    from pipeline.config import config_from_data

    embedded = config_from_data(yaml.safe_load(config_node.value.args[0].value))
    assert embedded.train.train_steps == 42 and embedded.root == config.root
    every = airflow.render_dag(config, task, every="6h")
    assert "datetime.timedelta(seconds=21600)" in every


@pytest.mark.skipif(importlib.util.find_spec("airflow") is not None,
                    reason="Airflow is installed here")
def test_airflow_not_installed_is_one_line_and_no_file(cli, tmp_path):
    out = tmp_path / "dags" / "dlpipe_dag.py"
    result = cli("export", "airflow", "--set", f"output_root={tmp_path / 'root'}", "-o", str(out))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "error:" in line] == [
        "dlpipe export: error: Airflow is not installed in this environment, so no DAG was "
        "written. Export from a venv built from requirements-airflow.lock (this lock plus "
        "Airflow 2.10; see README, 'Exports'), where the DAG will run."]
    assert not out.parent.exists() and not (tmp_path / "root").exists()
