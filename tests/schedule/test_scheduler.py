"""`dlpipe schedule` with real runs: the real CLI in a child process, waited on through its log.

No assertion depends on a clock: each step waits (with a bounded timeout) for a line in the
scheduler's log or for the process to exit.
"""

from __future__ import annotations

import datetime
import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DLPIPE, REPO, run_cli
from tests.e2e.test_spans import FAST, versions, write_span


class Scheduler:
    """A ``dlpipe schedule`` process whose stdout goes to a file the test reads."""

    def __init__(self, tmp: Path, *args: str):
        self.log_path = tmp / f"schedule-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(DLPIPE), "schedule", *args], cwd=REPO,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)  # polling interval, not an assertion
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.text()}")

    def stop(self, timeout: float = 300) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code


def sets(root: Path, data: Path) -> list[str]:
    # 300 steps: enough for every class to pass evaluate.min_class_accuracy on half the data.
    items = [f"output_root={root}", "ingest.kind=tfrecord", f"ingest.path={data}/span-{{SPAN}}",
             *FAST, "train.train_steps=300", "train.epochs=3"]
    return [a for s in items for a in ("--set", s)]


@pytest.mark.e2e
def test_failed_run_then_runs_with_overlaps_skipped_then_sigterm_mid_run(tmp_path):
    root, data = tmp_path / "out", tmp_path / "data"
    order = np.random.default_rng(0).permutation(1797)
    halves = order[:900], order[900:]
    sched = Scheduler(tmp_path, "--every", "3s", *sets(root, data))
    try:
        # 1. No data yet: the run fails; the scheduler logs it and keeps going.
        sched.wait_for(lambda t: "run failed (exit 1)" in t, 180, "a failed run")
        write_span(data, 1, halves[0])
        # 2. The next trigger runs the pipeline; triggers during the run are skipped.
        text = sched.wait_for(lambda t: "run finished (exit 0)" in t, 400, "a finished run")
        assert "pushed:   version 1" in text
        assert re.search(r"trigger \S+ skipped: the run started at \S+ is still going", text)
        assert versions(root) == ["1"]
        # 3. A new span: SIGTERM the scheduler while that run trains.
        write_span(data, 2, halves[1])
        sched.wait_for(lambda t: re.search(r"span 2:.*?\] Trainer \.\.\.", t, re.S), 400,
                       "span 2's Trainer to start")
    finally:
        code = sched.stop()
    text = sched.text()
    assert code == 0, text
    assert "asking the current run" in text
    assert re.search(r"Run stopped: stopped on request after \w+", text), text
    assert "run stopped on request" in text and "scheduler stopped" in text
    # Stopped before Pusher: version 1 serves, no new or half-written version.
    assert versions(root) == ["1"]
    assert "Evaluator ..." not in text.split("span 2:")[1]

    # `dlpipe runs` shows the runs: the first complete on span 1, the last stopped on span 2.
    listed = run_cli("runs", *sets(root, data))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert rows[0][5:9] == ["complete", "1", "yes", "v1"], listed.stdout
    assert rows[-1][5:9] == ["stopped", "2", "-", "-"], listed.stdout
    assert all(r[5] == "complete" for r in rows[:-1]), listed.stdout


@pytest.mark.e2e
def test_missed_triggers_after_downtime_run_once(tmp_path):
    root, data = tmp_path / "out", tmp_path / "data"  # no data: each run fails fast
    state_dir = root / "schedule"
    state_dir.mkdir(parents=True)
    last = datetime.datetime.now().astimezone() - datetime.timedelta(hours=1)
    (state_dir / "digits_cnn.json").write_text(json.dumps({"last_trigger": last.isoformat()}))
    # Six 10-minute triggers were missed while the scheduler was down.
    sched = Scheduler(tmp_path, "--every", "10m", *sets(root, data))
    try:
        sched.wait_for(lambda t: "run failed" in t, 180, "the catch-up run")
        # A second scheduler on the same pipeline and output root refuses to start.
        second = run_cli("schedule", "--every", "10m", *sets(root, data), timeout=120)
        assert second.returncode == 1
        assert "Another dlpipe schedule" in second.stderr
    finally:
        code = sched.stop()
    text = sched.text()
    assert code == 0, text
    assert "missed trigger(s) since" in text
    assert text.count("run started") == 1, text
    assert "skipped" not in text, text
    state = json.loads((state_dir / "digits_cnn.json").read_text())
    assert datetime.datetime.fromisoformat(state["last_trigger"]) > last
    assert state["last_result"] == "failed"
