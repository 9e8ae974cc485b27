"""A portable Beam cluster on this machine: Beam's local job service and a dlpipe worker pool,
each its own process, on loopback. For tests and benchmarks of the portable path (the same
path Flink and Spark job servers take), and to try ``beam.runner: PortableRunner`` here."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dlpipe.errors import DlpipeError


@dataclasses.dataclass(frozen=True)
class LocalCluster:
    """Where the services listen and where the workers keep their files."""

    job_endpoint: str
    worker_pool: str
    work_dir: Path

    def overrides(self) -> list[str]:
        """``--set`` values that run a pipeline on this cluster."""
        return ["beam.runner=PortableRunner", f"beam.job_endpoint={self.job_endpoint}",
                "beam.environment_type=EXTERNAL",
                f"beam.environment_config={self.worker_pool}"]

    def worker_records(self) -> list[dict]:
        """What each worker recorded when it ended (``pipeline.beam.boot``)."""
        import json

        return [json.loads(p.read_text())
                for p in sorted((self.work_dir / "pool").glob("*/worker-*.json"))]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def local_cluster(work_dir: Path, start_timeout: float = 120.0) -> Iterator[LocalCluster]:
    """Starts the job service and the worker pool; stops both (and the workers) on exit.

    Args:
      work_dir: Holds the job service's staging directory, the pool's workers and the
        services' logs (``job_service.log``, ``worker_pool.log``).
      start_timeout: Seconds to wait for each service to listen.

    Raises:
      DlpipeError: a service did not start (its log says why).
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    port_file = work_dir / "job_service.port"
    port_file.unlink(missing_ok=True)
    processes = []
    try:
        with open(work_dir / "job_service.log", "ab") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                 "--port", "0", "--port_file", str(port_file),
                 "--staging_dir", str(work_dir / "staging")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        with open(work_dir / "worker_pool.log", "ab") as log:
            pool = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "beam-worker-pool", "--port", "0",
                 "--work-dir", str(work_dir / "pool")],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
        processes.append(pool)
        line = pool.stdout.readline()  # "Beam worker pool listening on HOST:PORT (...)"
        if " on " not in line:
            raise DlpipeError(f"The Beam worker pool did not start; see "
                              f"{work_dir / 'worker_pool.log'}")
        pool_address = line.split(" on ", 1)[1].split()[0]
        deadline = time.monotonic() + start_timeout
        while not port_file.is_file():
            if processes[0].poll() is not None or time.monotonic() > deadline:
                raise DlpipeError(f"Beam's local job service did not start; see "
                                  f"{work_dir / 'job_service.log'}")
            time.sleep(0.2)
        yield LocalCluster(f"localhost:{port_file.read_text().strip()}", pool_address,
                           work_dir)
    finally:
        for process in reversed(processes):  # the pool first: its workers write records
            _stop(process)
