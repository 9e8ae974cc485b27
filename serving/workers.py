"""Several serving processes behind the same ports (``dlpipe serve --num_workers``).

One Python process answers at most what one core can do under the GIL (about 3,000-5,000
small requests/s here, most of it in the HTTP and gRPC layers). ``--num_workers`` starts that
many complete servers, the first in the ``dlpipe serve`` process itself, which all bind the
same REST and gRPC ports with ``SO_REUSEPORT``: the kernel spreads connections over them.
Each worker has its own models, batch schedulers, version policy and file system polling.

What keeps them one server to clients:

* **Versions switch together.** A worker that has loaded and warmed a version waits (the
  :class:`VersionBarrier`) until every worker has, then serves it, and reports it
  AVAILABLE only once every worker serves it: a client told AVAILABLE by any worker gets
  the version from all of them. A worker waits at most ``BARRIER_TIMEOUT_S`` for the others.
* **Config reloads reach every worker.** HandleReloadConfigRequest is applied by the worker
  that received it (refused there, it is refused for all), then by every other worker
  through a shared file, before it is answered.
* **Metrics add up.** Every worker writes its metrics into a shared directory
  (prometheus_client's multiprocess mode); the metrics page sums them.
* **One lifetime.** The workers die with the ``dlpipe serve`` process (``PR_SET_PDEATHSIG``),
  stop with it on SIGTERM, and a worker that dies is started again.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger("dlpipe.serving.workers")

BARRIER_TIMEOUT_S = 120.0
RELOAD_POLL_S = 0.05
START_TIMEOUT_S = 300.0
_PR_SET_PDEATHSIG = 1


def default_num_workers() -> int:
    """The cores this process may run on (``--num_workers``'s default)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def die_with_parent() -> None:
    """Asks the kernel to send this process SIGTERM when its parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() == 1:  # the parent died before prctl
            os.kill(os.getpid(), signal.SIGTERM)


class VersionBarrier:
    """Holds a loaded version back until every worker has loaded the same files.

    Two steps, each a mark per worker in ``<dir>/<model>/<version>-<files digest>/``:
    ``loaded-<i>`` once worker ``i`` has loaded and warmed the version (then it starts
    routing requests to it), ``serving-<i>`` once it routes them. A worker reports the
    version AVAILABLE only when every worker serves it, so a client that was told
    AVAILABLE by any worker gets the version from every worker.
    """

    def __init__(self, directory: Path, index: int, num_workers: int,
                 timeout: float = BARRIER_TIMEOUT_S) -> None:
        self.directory = Path(directory)
        self.index = index
        self.num_workers = num_workers
        self.timeout = timeout

    def __call__(self, model: str, version: int, snapshot: tuple, step: str) -> None:
        """Marks ``step`` (``loaded`` or ``serving``) done here and waits for the others."""
        digest = hashlib.sha1(repr(snapshot).encode()).hexdigest()[:16]
        where = self.directory / model / f"{version}-{digest}"
        where.mkdir(parents=True, exist_ok=True)
        (where / f"{step}-{self.index}").touch()
        deadline = time.monotonic() + self.timeout
        while True:
            done = sum(1 for name in os.listdir(where) if name.startswith(step + "-"))
            if done >= self.num_workers:
                return
            if time.monotonic() > deadline:
                log.warning("%s version %d: only %d of %d workers reached '%s' within %.0f s; "
                            "going on without the others", model, version, done,
                            self.num_workers, step, self.timeout)
                return
            time.sleep(0.002)


class SharedReloads:
    """Passes HandleReloadConfigRequest's model lists to every worker.

    The worker that received the request applies it, writes it to ``reload.json`` and
    answers only once every other worker has applied it too (``ack-<i>`` files), so after
    an OK answer every worker serves the new config.
    """

    def __init__(self, directory: Path, index: int, num_workers: int,
                 timeout: float = 60.0) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "reload.json"
        self.index = index
        self.num_workers = num_workers
        self.timeout = timeout
        self._seen = self._stamp()

    def _stamp(self) -> tuple:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return ()
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _write(self, path: Path, text: str) -> None:
        tmp = path.with_name(f".{path.name}-{self.index}-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)

    def publish(self, models: Sequence) -> None:
        """Hands an applied model list to the other workers and waits until they applied it.

        Raises:
          ServingError: UNAVAILABLE when a worker did not apply it in time.
        """
        import dataclasses
        import json

        from serving.errors import Code, ServingError

        generation = f"{time.time_ns()}-{self.index}"
        doc = {"from": self.index, "generation": generation, "models": [
            {**dataclasses.asdict(m), "labels": dict(m.labels), "versions": list(m.versions)}
            for m in models]}
        self._write(self.path, json.dumps(doc))
        self._seen = self._stamp()
        deadline = time.monotonic() + self.timeout
        others = [i for i in range(self.num_workers) if i != self.index]
        while True:
            acks = {}
            for i in others:
                with contextlib.suppress(OSError):
                    acks[i] = (self.directory / f"ack-{i}").read_text()
            if all(acks.get(i, "").startswith(generation) for i in others):
                failed = [acks[i][len(generation) + 1:] for i in others
                          if acks[i] != generation]
                if failed:
                    raise ServingError(Code.INTERNAL, "Another serving worker could not "
                                       f"apply the config: {failed[0]}")
                return
            if time.monotonic() > deadline:
                raise ServingError(Code.UNAVAILABLE, "The config was applied by this worker "
                                   "but not by every other worker in time")
            time.sleep(0.005)

    def watch(self, apply: Callable[[list], None], stopped: threading.Event) -> None:
        """Applies the model lists other workers publish, until ``stopped``."""
        import json

        from serving.config import ServedModel

        while not stopped.wait(RELOAD_POLL_S):
            stamp = self._stamp()
            if not stamp or stamp == self._seen:
                continue
            self._seen = stamp
            try:
                doc = json.loads(self.path.read_text())
            except (OSError, ValueError) as e:
                log.error("Cannot read a model config reload from another worker: %s", e)
                continue
            if doc.get("from") == self.index:
                continue
            ack = doc.get("generation", "")
            try:
                apply([ServedModel(**{**m, "versions": tuple(m["versions"])})
                       for m in doc["models"]])
                log.info("Applied a model config reload from worker %s", doc.get("from"))
            except Exception as e:  # a bad reload must not stop the worker
                log.error("Cannot apply a model config reload from another worker: %s", e)
                ack += f" {e}"
            self._write(self.directory / f"ack-{self.index}", ack)


_DIR_PREFIX = "dlpipe-serve-"


def _remove_stale_directories() -> None:
    """Removes the shared directories of pools whose first process died without cleaning up
    (killed with SIGKILL); the directory name carries that process's id."""
    for path in Path(tempfile.gettempdir()).glob(f"{_DIR_PREFIX}*-*"):
        pid = path.name[len(_DIR_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive, another user's
            pass


def _reserve(host: str, port: int) -> socket.socket:
    """Binds ``host:port`` with SO_REUSEPORT (not listening) to hold the port number while
    the workers bind it; a port already in use by anyone is an error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))  # raises EADDRINUSE when someone serves on it
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    return s


class WorkerPool:
    """The extra worker processes of a ``dlpipe serve --num_workers N`` (N > 1).

    Args:
      num_workers: Workers in all, this process included.
      worker_args: ``dlpipe serve`` flags for a worker, given (grpc_port, rest_port,
        index, shared directory); the pool adds nothing else.
      host / rest_host: Bind addresses, for reserving the ports.
      grpc_port / rest_port: Requested ports (0: free ports); None: REST disabled.
    """

    def __init__(self, num_workers: int, worker_args: Callable[[int, int, int, Path], list[str]],
                 host: str, rest_host: str, grpc_port: int, rest_port: int | None) -> None:
        self.num_workers = num_workers
        self._worker_args = worker_args
        self._reserved = [_reserve(host, grpc_port)]
        self.grpc_port = self._reserved[0].getsockname()[1]
        self.rest_port: int | None = None
        if rest_port is not None:
            try:
                self._reserved.append(_reserve(rest_host, rest_port))
            except OSError:
                self._reserved[0].close()
                raise
            self.rest_port = self._reserved[1].getsockname()[1]
        _remove_stale_directories()
        self.directory = Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-"))
        (self.directory / "metrics").mkdir()
        (self.directory / "versions").mkdir()
        self._procs: dict[int, subprocess.Popen] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def metrics_dir(self) -> Path:
        return self.directory / "metrics"

    @property
    def versions_dir(self) -> Path:
        return self.directory / "versions"

    def start(self) -> None:
        """Starts workers 1..N-1 (they load their models while this process loads its own)."""
        for index in range(1, self.num_workers):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        args = self._worker_args(self.grpc_port, self.rest_port or 0, index, self.directory)
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", *args],
                                stdout=subprocess.PIPE, text=True)
        with self._lock:
            self._procs[index] = proc

    def wait_ready(self) -> None:
        """Blocks until every worker has bound its ports; then releases the reservations.

        Raises:
          OSError: A worker exited before it was ready (its error is on stderr).
        """
        deadline = time.monotonic() + START_TIMEOUT_S
        for index, proc in sorted(self._procs.items()):
            line = proc.stdout.readline() if time.monotonic() < deadline else ""
            if "REST on" not in line:
                self.stop(grace=0)
                raise OSError(f"serving worker {index} did not start (exit code "
                              f"{proc.poll()}); see its error above")
            threading.Thread(target=self._watch, args=(index, proc), daemon=True).start()
        for s in self._reserved:
            s.close()
        self._reserved = []

    def _watch(self, index: int, proc: subprocess.Popen) -> None:
        """Drains a worker's stdout; starts it again if it dies while the pool serves."""
        for _ in proc.stdout:
            pass
        code = proc.wait()
        from serving import metrics

        metrics.mark_process_dead(self.metrics_dir, proc.pid)
        if self._stopping.is_set():
            return
        log.error("Serving worker %d (pid %d) exited with code %s; starting it again",
                  index, proc.pid, code)
        time.sleep(1.0)
        if self._stopping.is_set():
            return
        self._spawn(index)
        with self._lock:
            new = self._procs[index]
        if "REST on" in (new.stdout.readline() or ""):
            threading.Thread(target=self._watch, args=(index, new), daemon=True).start()
        else:
            log.error("Serving worker %d did not start again", index)

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs.values()]

    def stop(self, grace: float = 10.0) -> None:
        """Stops every worker gracefully (SIGTERM, then SIGKILL after ``grace`` + 30 s)."""
        self._stopping.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=grace + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for s in self._reserved:
            s.close()
        shutil.rmtree(self.directory, ignore_errors=True)
