"""What a run records of itself, and the lock it holds: the names ``pipeline.runner`` writes
and ``pipeline.history`` (``dlpipe runs``) reads.

A run's state, start and end go on its MLMD ``pipeline_run`` context as custom properties;
one run at a time per pipeline root holds an exclusive ``flock`` on
``<pipeline_root>/.dlpipe-run.lock`` with its holder (pid, host, start, run id) written in
it, which the kernel drops when the process ends, however it ends.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from dlpipe.errors import DlpipeError

RUN_STATE_KEY = "dlpipe_state"
"""Custom property of the MLMD ``pipeline_run`` context: complete, failed or stopped."""
STARTED_MS_KEY = "dlpipe_started_ms"
ENDED_MS_KEY = "dlpipe_ended_ms"
"""When the run started and ended (epoch ms, double), on the same context."""
FAILED_NODE_KEY = "dlpipe_failed_node"
RUN_LOCK_FILE = ".dlpipe-run.lock"
"""The lock a run holds on its pipeline root (``<pipeline_root>/.dlpipe-run.lock``)."""
DIED = "died"
"""State of a run whose process ended without recording how it ended."""

@dataclasses.dataclass(frozen=True)
class LockHolder:
    """The process holding a pipeline root's run lock."""

    pid: int
    host: str
    started: str
    run_id: str = ""

    def describe(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        return f"pid {self.pid} on {self.host}, started {self.started}{run}"


def _read_holder(f) -> LockHolder | None:
    f.seek(0)
    try:
        data = json.loads(f.read() or "{}")
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["started"]),
                          str(data.get("run_id", "")))
    except (ValueError, KeyError, TypeError):  # written by something else, or mid-write
        return None


class RunLock:
    """The exclusive lock a run holds on its pipeline root while it runs.

    Args:
      pipeline_root: The pipeline's root directory (created if missing).
    """

    def __init__(self, pipeline_root: Path) -> None:
        self.root = Path(pipeline_root)
        self.path = self.root / RUN_LOCK_FILE
        self._file = None
        self.holder: LockHolder | None = None

    def acquire(self, wait: float = 2.0) -> None:
        """Takes the lock, or raises DlpipeError naming its holder.

        Args:
          wait: Seconds to retry: ``dlpipe runs`` takes a shared lock for an instant to
            see whether a run is live, which must not make a starting run fail.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        give_up = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    holder = _read_holder(f)
                    f.close()
                    who = holder.describe() if holder else "holder unknown"
                    raise DlpipeError(
                        f"Another dlpipe run is using {self.root} ({who}). One run at a time "
                        "per pipeline root: wait for it to end, or stop it (kill -TERM "
                        f"{holder.pid if holder else '<pid>'}: it stops after its current "
                        "component)."
                    ) from None
                time.sleep(0.05)
        self._file = f
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        self._write(LockHolder(os.getpid(), socket.gethostname(), started))

    def set_run_id(self, run_id: str) -> None:
        """Records the run id in the lock file (``dlpipe runs`` tells the live run by it)."""
        assert self.holder is not None, "acquire() first"
        self._write(dataclasses.replace(self.holder, run_id=run_id))

    def _write(self, holder: LockHolder) -> None:
        self.holder = holder
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(dataclasses.asdict(holder)))
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(pipeline_root: Path) -> LockHolder | None:
    """The live run's holder of the pipeline root's lock; None when no run is live.

    Probes with a shared lock taken for an instant, never blocking.
    """
    path = Path(pipeline_root) / RUN_LOCK_FILE
    try:
        f = open(path)
    except OSError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(f) or LockHolder(0, "?", "?")
        fcntl.flock(f, fcntl.LOCK_UN)
        return None
