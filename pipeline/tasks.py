"""The run's task: the config's ``task:`` section resolved against the checked input.

``prepare`` is what every entry point that builds a pipeline calls first (``dlpipe run``,
the exports, the scheduler's runs, ``dlpipe init``): it checks the source, profiles it and
resolves the task, so a config that cannot work fails in one line before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from models.tasks.spec import Task, resolve
from pipeline.config import PipelineConfig
from pipeline.ingest import Source, check_source

TASK_FILE = "task.json"
"""In a run's directory: the resolved task the run used."""


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A checked source and the task resolved against it."""

    source: Source
    task: Task


def resolve_task(config: PipelineConfig, source: Source) -> Task:
    """The config's task completed from the source's profile (see ``models.tasks.spec``)."""
    from models.zoo import module_sha256

    module = config.task.module_file
    return resolve(config.task, source.profile, module,
                   module_sha256(module) if module else "")


def prepare(config: PipelineConfig) -> Prepared:
    """Checks and profiles the input, then resolves the task.

    Raises:
      DlpipeError: the input is missing or malformed (exit 1).
      ConfigError: the task does not fit the data (exit 2).
    """
    from pipeline.config.checks import check_resolved

    source = check_source(config)
    task = resolve_task(config, source)
    check_resolved(config, task)
    return Prepared(source, task)


def write_task(run_dir: Path, task: Task) -> Path:
    """Records the resolved task beside the run's config."""
    path = Path(run_dir) / TASK_FILE
    path.write_text(json.dumps(task.to_dict(), indent=2) + "\n")
    return path


def read_task(run_dir: Path) -> Task | None:
    """The task a past run used, or None if it recorded none."""
    path = Path(run_dir) / TASK_FILE
    return Task.from_dict(json.loads(path.read_text())) if path.is_file() else None
