"""Airflow: a DAG file that runs the pipeline with TFX's ``AirflowDagRunner``.

The file embeds the resolved config and task (resolved against the data when the DAG is
written) and builds the DAG from the same ``create_pipeline`` factory when Airflow imports
it, so the Airflow workers need dlpipe installed with Airflow beside it: a venv built from
``requirements-airflow.lock`` (the main lock plus Airflow 2.10 core; tests/e2e/test_airflow.py
runs the DAG with ``airflow dags test`` in one). The schedule mirrors
``dlpipe schedule``: ``catchup=False`` runs a missed interval once, ``max_active_runs=1``
keeps one run at a time.
"""

from __future__ import annotations

import importlib.util
import json

import yaml

from dlpipe.errors import DlpipeError
from models.tasks.spec import Task
from pipeline.config import PipelineConfig

_TEMPLATE = '''"""Airflow DAG for the dlpipe pipeline {name!r} (written by `dlpipe export airflow`).

Schedule: {schedule_doc}. Regenerate with `dlpipe export airflow` after changing the config.
"""

import datetime

import yaml
from tfx.orchestration.airflow.airflow_dag_runner import AirflowDagRunner, AirflowPipelineConfig

from models.tasks.spec import Task
from pipeline.config import config_from_data
from pipeline.pipeline import create_pipeline

CONFIG = yaml.safe_load({config_yaml!r})
TASK = Task.from_dict(yaml.safe_load({task_yaml!r}))
TFDS_FEATURE_MAP = yaml.safe_load({feature_map_yaml!r})

DAG = AirflowDagRunner(
    AirflowPipelineConfig(
        airflow_dag_config={{
            "schedule_interval": {schedule_interval},
            "start_date": datetime.datetime({start.year}, {start.month}, {start.day}),
            "catchup": False,  # a missed interval runs once, not once per interval
            "max_active_runs": 1,  # one run at a time
        }}
    )
).run(create_pipeline(config_from_data(CONFIG), TASK, TFDS_FEATURE_MAP))
'''


def check_installed() -> None:
    """Raises DlpipeError unless Airflow can be imported here."""
    if importlib.util.find_spec("airflow") is None:
        raise DlpipeError(
            "Airflow is not installed in this environment, so no DAG was written. Export "
            "from a venv built from requirements-airflow.lock (this lock plus Airflow 2.10; "
            "see README, 'Exports'), where the DAG will run."
        )


def render_dag(config: PipelineConfig, task: Task, cron: str = "", every: str = "",
               tfds_feature_map: dict | None = None) -> str:
    """The DAG file's source for ``config`` and its resolved ``task`` on the given schedule
    (a cron line or interval)."""
    import datetime

    from pipeline.schedule import parse_interval

    if cron:
        schedule_interval, schedule_doc = repr(cron), f"cron {cron!r}"
    elif every:
        seconds = int(parse_interval(every).total_seconds())
        schedule_interval = f"datetime.timedelta(seconds={seconds})"
        schedule_doc = f"every {every}"
    else:
        schedule_interval, schedule_doc = "None", "none (trigger runs by hand)"
    data = config.to_dict()
    data["output_root"] = str(config.root)  # the DAG must not depend on Airflow's cwd
    if config.ingest.path:
        data["ingest"]["path"] = str(config.data_dir / config.input_pattern) \
            if config.uses_spans else str(config.data_dir)
    start = datetime.date.today()
    return _TEMPLATE.format(
        name=config.name,
        schedule_doc=schedule_doc,
        config_yaml=yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False),
        task_yaml=yaml.safe_dump(task.to_dict(), sort_keys=False),
        feature_map_yaml=yaml.safe_dump(tfds_feature_map),
        schedule_interval=schedule_interval,
        start=start,
    )
