"""Running the pipeline on a schedule (``dlpipe schedule``), with APScheduler.

Rules, each kept by the library or by one small piece of code here:

* **One run at a time.** The job has ``max_instances=1``: a trigger that fires while a run is
  still going is skipped by APScheduler, and logged here.
* **A missed trigger runs once.** The time of the last trigger is kept in
  ``<output_root>/schedule/<pipeline>.json``. On start, the first trigger due after it is
  computed by the trigger itself; if that time has passed (the scheduler was down), the job
  starts with that time as its next run and ``coalesce=True`` with no misfire grace limit, so
  APScheduler runs it once, not once per missed trigger.
* **SIGTERM stops cleanly.** The scheduler stops triggering and forwards SIGTERM to the
  running ``dlpipe run``, whose runner stops after the component it is in (the pusher's
  rename is atomic, so nothing is half-pushed), then exits.
* **A failed run is logged**; the next trigger runs as usual.

Each run is ``dlpipe run`` in a child process, not a call in this process: TensorFlow, Beam
and absl keep process-wide state (graphs, thread pools, log handlers, memory that is not
returned), a crash or OOM kill of a run must not take the scheduler down, and each run reads
the code and config on disk afresh. The scheduler itself runs no TensorFlow work (it
imports the model builder only to validate the config once).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from dlpipe.errors import DlpipeError
from dlpipe.files import write_atomically

JOB_ID = "dlpipe-run"
_EVERY = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ScheduleError(DlpipeError, ValueError):
    """An invalid schedule, or a scheduler that cannot start."""


def parse_interval(text: str) -> datetime.timedelta:
    """Parses ``30s``, ``15m``, ``6h`` or ``1d`` into a positive timedelta.

    Raises:
      ScheduleError: naming the value received and the expected form.
    """
    match = _EVERY.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ScheduleError(
            f"Invalid interval {text!r}: expected a positive whole number and a unit "
            f"(s, m, h, d), e.g. '30s', '15m', '6h', '1d'."
        )
    return datetime.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def make_trigger(cron: str = "", every: str = ""):
    """An APScheduler trigger for a crontab line or an interval (exactly one of them).

    Raises:
      ScheduleError: for none or both, an invalid crontab line or an invalid interval.
    """
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if bool(cron) == bool(every):
        raise ScheduleError(
            f"Give exactly one schedule: --cron '0 3 * * *' or --every 6h. "
            f"Received: cron={cron!r}, every={every!r}."
        )
    if every:
        return IntervalTrigger(seconds=parse_interval(every).total_seconds())
    try:
        return CronTrigger.from_crontab(_crontab_weekdays(cron))
    except ValueError as e:
        raise ScheduleError(
            f"Invalid cron expression {cron!r}: {e}. Expected 5 fields: minute hour "
            f"day-of-month month day-of-week, e.g. '0 3 * * *'."
        ) from None


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")


def _crontab_weekdays(cron: str) -> str:
    """Rewrites a numeric day-of-week field with day names.

    In crontab, 0 (and 7) is Sunday; APScheduler 3's ``from_crontab`` reads 0 as Monday
    (its own weekday numbering). Names mean the same to both, so numbers become names:
    ``1-5`` -> ``mon,tue,wed,thu,fri``. Anything else is left for APScheduler to validate.
    """
    fields = cron.split()
    if len(fields) != 5 or not any(c.isdigit() for c in fields[4]):
        return cron
    days: set[int] = set()
    for item in fields[4].split(","):
        m = _DOW_ITEM.match(item)
        if not m:
            return cron
        start = 0 if m.group(1) == "*" else int(m.group(1))
        end = int(m.group(2)) if m.group(2) else (6 if m.group(1) == "*" or m.group(3) else start)
        step = int(m.group(3) or 1)
        if start > 7 or end > 7 or start > end or step == 0:
            return cron  # APScheduler gives the error
        days.update(d % 7 for d in range(start, end + 1, step))
    fields[4] = ",".join(_WEEKDAYS[d] for d in sorted(days))
    return " ".join(fields)


# ---------------------------------------------------------------------------
# State kept between scheduler starts


def read_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ScheduleError(
            f"Scheduler state {path} is unreadable ({e}); remove it to reset."
        ) from None


def write_state(path: Path, state: dict) -> None:
    """Writes the state file whole (temp file, then rename)."""
    write_atomically(path, json.dumps(state, indent=2, sort_keys=True))


def _parse_time(text: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(text) if text else None


# ---------------------------------------------------------------------------
# The scheduler


class PipelineScheduler:
    """Runs ``command`` on ``trigger``: one run at a time, missed triggers once, clean stop.

    Args:
      trigger: An APScheduler trigger (``make_trigger``).
      command: The run command (argv), started as a child process per trigger.
      state_dir: Directory for the state and lock files (created if needed).
      name: Pipeline name; names the state and lock files.
      log: Receives one line per event (triggers, runs, skips, stop).
    """

    def __init__(self, trigger, command: Sequence[str], state_dir: Path, name: str,
                 log: Callable[[str], None]):
        self.trigger = trigger
        self.command = list(command)
        self.state_path = Path(state_dir) / f"{name}.json"
        self.lock_path = Path(state_dir) / f"{name}.lock"
        self.log = log
        self.stop_event = threading.Event()
        self._child: subprocess.Popen | None = None
        self._child_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._run_started: datetime.datetime | None = None
        self._scheduler = None

    # -- state

    def _update_state(self, **changes) -> None:
        with self._state_lock:
            state = read_state(self.state_path)
            state.update(changes)
            write_state(self.state_path, state)

    # -- the job

    def _run_once(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self._child_lock:
            if self.stop_event.is_set():  # checked under the lock the stopping code takes
                return
            self._run_started = datetime.datetime.now().astimezone()
            # Own session: a terminal's Ctrl-C reaches the scheduler, which decides.
            child = self._child = subprocess.Popen(self.command, env=env,
                                                   start_new_session=True)
        self.log(f"run started (pid {child.pid}): dlpipe {' '.join(self.command[3:])}")
        code = child.wait()
        with self._child_lock:
            self._child = None
        took = (datetime.datetime.now().astimezone() - self._run_started).total_seconds()
        if self.stop_event.is_set():
            self.log(f"run stopped on request (exit {code}) after {took:.0f} s")
            result = "stopped"
        elif code == 0:
            self.log(f"run finished (exit 0) after {took:.0f} s")
            result = "finished"
        else:
            self.log(f"run failed (exit {code}) after {took:.0f} s; the next trigger runs "
                     "as usual")
            result = "failed"
        self._update_state(last_result=result, last_exit=code,
                           last_run_started=self._run_started.isoformat())

    def _on_event(self, event) -> None:
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED

        times = getattr(event, "scheduled_run_times", None) or []
        if not times:
            return
        when = max(times)
        # The trigger is handled (run or deliberately skipped): a restart must not redo it.
        self._update_state(last_trigger=when.isoformat())
        if event.code == EVENT_JOB_SUBMITTED:
            self.log(f"trigger {when.isoformat(timespec='seconds')}: starting a run")
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            started = self._run_started.isoformat(timespec="seconds") if self._run_started else "?"
            self.log(f"trigger {when.isoformat(timespec='seconds')} skipped: the run started "
                     f"at {started} is still going (one run at a time)")

    # -- lifecycle

    def _first_run_time(self, now: datetime.datetime) -> datetime.datetime | None:
        """The job's first run time: the first trigger after the last one handled, if any."""
        last = _parse_time(read_state(self.state_path).get("last_trigger"))
        if last is None:
            return None
        due = self.trigger.get_next_fire_time(last, last)
        if due is not None and due <= now:
            self.log(f"missed trigger(s) since {last.isoformat(timespec='seconds')} while the "
                     "scheduler was not running: running once now")
        return due

    def serve(self) -> int:
        """Schedules runs until ``stop_event`` is set (SIGTERM/SIGINT); returns 0."""
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED
        from apscheduler.schedulers.background import BackgroundScheduler

        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                raise ScheduleError(
                    f"Another dlpipe schedule (pid {lock.read().strip() or '?'}) is running "
                    f"this pipeline (lock {self.lock_path})."
                ) from None
            lock.seek(0)
            lock.truncate()
            lock.write(str(os.getpid()))
            lock.flush()
            return self._serve_locked(BackgroundScheduler,
                                      EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)

    def _serve_locked(self, scheduler_cls, events: int) -> int:
        # APScheduler's own warning for a skipped trigger would repeat the line logged here.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        scheduler = scheduler_cls(daemon=True)
        scheduler.add_listener(self._on_event, events)
        now = datetime.datetime.now().astimezone()
        kwargs = {}
        first = self._first_run_time(now)
        if first is not None:
            kwargs["next_run_time"] = first
        scheduler.add_job(
            self._run_once, self.trigger, id=JOB_ID, max_instances=1, coalesce=True,
            misfire_grace_time=None, **kwargs,
        )
        scheduler.start()
        self._scheduler = scheduler
        job = scheduler.get_job(JOB_ID)
        self.log(f"scheduler started (pid {os.getpid()}); next run at "
                 f"{job.next_run_time.isoformat(timespec='seconds')}")
        while not self.stop_event.wait(timeout=1.0):
            pass
        self.log("stopping: no new runs will start")
        scheduler.pause()
        with self._child_lock:
            child = self._child
            if child is not None:
                self.log(f"asking the current run (pid {child.pid}) to stop after its "
                         "current component")
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        scheduler.shutdown(wait=True)  # waits for the running job, i.e. the child's exit
        self.log("scheduler stopped")
        return 0

    def request_stop(self, signum: int | None = None, frame=None) -> None:
        """Signal handler: sets the stop flag (the main loop does the rest)."""
        self.stop_event.set()


def run_command(config_path: str | None, overrides: Sequence[str]) -> list[str]:
    """The ``dlpipe run`` argv each trigger starts (this interpreter, this package)."""
    command = [sys.executable, "-m", "pipeline.cli", "run"]
    if config_path:
        command += ["--config", str(config_path)]
    for item in overrides:
        command += ["--set", item]
    return command
