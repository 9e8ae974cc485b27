"""One real default pipeline run shared by the report tests (about 35-50 s on 2 cores)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import PipelineConfig, load_config
from tests.conftest import run_cli


@dataclass
class Run:
    """A finished ``dlpipe run``: its output, id, config and report path."""

    stdout: str
    stderr: str
    returncode: int
    run_id: str
    config: PipelineConfig

    @property
    def run_dir(self) -> Path:
        return self.config.pipeline_root / "_runs" / self.run_id

    @property
    def report(self) -> Path:
        return self.run_dir / "report.html"


def dlpipe_run(root: Path, *overrides: str) -> Run:
    """Runs the real CLI with ``output_root=root`` and the overrides."""
    sets = [arg for o in (f"output_root={root}", *overrides) for arg in ("--set", o)]
    result = run_cli("run", *sets)
    match = re.search(r"^Run (\S+)$", result.stdout, re.M)
    assert match, result.stdout + result.stderr
    config = load_config(overrides=[f"output_root={root}", *overrides])
    return Run(result.stdout, result.stderr, result.returncode, match.group(1), config)


@pytest.fixture(scope="session")
def report_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="session")
def default_run(report_root) -> Run:
    """The default digits pipeline, run once; blessed and pushed as version 1."""
    return dlpipe_run(report_root)
