"""Kubeflow Pipelines v2 / Vertex AI Pipelines: a PipelineJob spec from TFX's
``KubeflowV2DagRunner``, every step running in the project's Docker image.

KFP keeps its own metadata, so the spec carries no ML Metadata connection. The spec has no
schedule in it: a recurring run is created from it (see ``schedule_help``). Every step is in
it, the edge steps included (their artifact types are named ``dlpipe.EdgeModels`` and
``dlpipe.EdgeReport``, the ``namespace.Name`` form KFP v2 requires). The steps read the input
from the path the config gives (``input_location``): it must be there, inside the steps'
containers, before a run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import tempfile
from pathlib import Path

from dlpipe.errors import DlpipeError
from dlpipe.files import write_atomically
from models.tasks.spec import Task
from pipeline.config import PipelineConfig

DEFAULT_IMAGE = "dlpipe:latest"


def check_installed() -> None:
    """Raises DlpipeError unless the KFP pipeline-spec protos TFX compiles into are here."""
    if importlib.util.find_spec("kfp.pipeline_spec") is None:
        raise DlpipeError(
            "kfp-pipeline-spec is not installed, so no Kubeflow spec was written. It is in "
            "requirements.lock: reinstall the venv with `make setup`."
        )


def write_spec(config: PipelineConfig, task: Task, path: Path, image: str = DEFAULT_IMAGE,
               tfds_feature_map: dict | None = None) -> Path:
    """Compiles the pipeline of ``config`` and its resolved ``task`` to a KFP v2
    PipelineJob JSON at ``path`` (written whole)."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipeline.pipeline import create_pipeline

    runner_config = kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
        default_image=image,
        # The image's entrypoint is `dlpipe`; steps run TFX's container entrypoint instead.
        default_commands=["python", "-m",
                          "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"],
    )
    # KFP names are [a-z0-9-]: digits_cnn becomes digits-cnn (also in its pipeline root).
    # The steps run in the image, which holds dlpipe: no wheel is built for Beam workers.
    config = dataclasses.replace(config, name=kfp_name(config.name),
                                 beam=dataclasses.replace(config.beam, stage_wheel=False))
    with tempfile.TemporaryDirectory(prefix="dlpipe-kfp-") as tmp:
        try:
            kubeflow_v2_dag_runner.KubeflowV2DagRunner(
                config=runner_config, output_dir=tmp, output_filename=path.name
            ).run(create_pipeline(config, task, tfds_feature_map), write_out=True)
        except ValueError as e:  # TFX's compile checks (names, unsupported nodes)
            raise DlpipeError(f"The pipeline cannot be compiled for Kubeflow: {e}") from None
        write_atomically(path, (Path(tmp) / path.name).read_text())
    return path


def input_location(config: PipelineConfig) -> str:
    """Where the spec's ExampleGen reads the input (a path inside the steps' containers)."""
    from pipeline.ingest.kinds import KINDS, TFDS

    if KINDS[config.ingest.kind].reader == TFDS:
        return config.ingest.tfds_data_dir or "TFDS's default data_dir"
    return str(config.data_dir)


def kfp_name(name: str) -> str:
    """``name`` in KFP's allowed form ``[a-z0-9][a-z0-9-]{0,127}``."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:128] or "dlpipe"


def schedule_help(path: Path, cron: str = "", every: str = "") -> list[str]:
    """How to run the spec on the schedule, on Vertex AI and on Kubeflow Pipelines."""
    from pipeline.schedule import parse_interval

    if not (cron or every):
        return []
    if cron:
        vertex = f'PipelineJob(template_path="{path}", ...).create_schedule(cron="{cron}", ' \
                 f'max_concurrent_run_count=1)'
        kfp = f'Client().create_recurring_run(..., pipeline_package_path="{path}", ' \
              f'cron_expression="0 {cron}", max_concurrency=1, no_catchup=True)'
    else:
        seconds = int(parse_interval(every).total_seconds())
        vertex = (f"Vertex schedules take a cron line; every {every} has no exact cron form "
                  "unless it divides a day")
        kfp = f'Client().create_recurring_run(..., pipeline_package_path="{path}", ' \
              f'interval_second={seconds}, max_concurrency=1, no_catchup=True)'
    return [f"  Vertex AI (google-cloud-aiplatform): {vertex}",
            f"  Kubeflow Pipelines (kfp SDK): {kfp}"]
