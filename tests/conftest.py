"""Shared test setup: quiet TensorFlow, helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
DLPIPE = Path(sys.executable).with_name("dlpipe")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs the installed ``dlpipe`` console script as a user would (``env``: variables to
    set on top of this process's environment)."""
    return subprocess.run(
        [str(DLPIPE), *args], cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str
                          ) -> None:
    """The command failed with ``code``, printing exactly one error line (no traceback)
    that contains every fragment."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture
def cli():
    return run_cli
