"""An external Beam worker pool (``environment_type: EXTERNAL``): ``dlpipe beam-worker-pool``.

Beam's own ``worker_pool_main`` listens on every interface and starts each worker as
``python -c ...`` from ``PATH``, with its output in a pipe nobody reads. This pool listens on
loopback unless told otherwise, starts each worker with ``dlpipe-beam-boot`` (this
interpreter; the staged packages are installed first, see ``pipeline.beam.boot``), writes
each worker's output to ``<work_dir>/<worker id>.log`` and stops its workers when it stops.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from dlpipe.errors import DlpipeError

LOOPBACK = "127.0.0.1"


def _servicer_class():
    from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc

    class WorkerPool(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):
        """Starts and stops booted SDK workers on the runner's request."""

        def __init__(self, work_dir: Path) -> None:
            self.work_dir = work_dir
            self.workers: dict[str, subprocess.Popen] = {}
            self._lock = threading.Lock()

        def StartWorker(self, request, context):  # noqa: N802 - gRPC's method name
            worker_dir = self.work_dir / request.worker_id
            worker_dir.mkdir(parents=True, exist_ok=True)
            command = [
                sys.executable, "-m", "pipeline.beam.boot",
                f"--id={request.worker_id}",
                f"--logging_endpoint={request.logging_endpoint.url}",
                f"--artifact_endpoint={request.artifact_endpoint.url}",
                f"--provision_endpoint={request.provision_endpoint.url}",
                f"--control_endpoint={request.control_endpoint.url}",
                f"--semi_persist_dir={worker_dir}",
                f"--site_dir={self.work_dir / 'site'}",
            ]
            try:
                with open(self.work_dir / f"{request.worker_id}.log", "ab") as log:
                    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL)
            except OSError as e:
                return beam_fn_api_pb2.StartWorkerResponse(error=f"cannot start worker: {e}")
            with self._lock:
                self.workers[request.worker_id] = process
            return beam_fn_api_pb2.StartWorkerResponse()

        def StopWorker(self, request, context):  # noqa: N802 - gRPC's method name
            with self._lock:
                process = self.workers.pop(request.worker_id, None)
            if process is not None:
                _stop(process)
            return beam_fn_api_pb2.StopWorkerResponse()

        def stop_all(self) -> None:
            with self._lock:
                processes, self.workers = list(self.workers.values()), {}
            for process in processes:
                _stop(process)

        def reap(self) -> None:
            """Forgets workers that ended (the runner closed their control channel)."""
            with self._lock:
                for worker_id, process in list(self.workers.items()):
                    if process.poll() is not None:
                        del self.workers[worker_id]

    return WorkerPool


def _stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start(host: str = LOOPBACK, port: int = 0, work_dir: Path | None = None):
    """Starts the pool's gRPC server.

    Args:
      host: Address to listen on (default loopback; ``0.0.0.0`` for every interface).
      port: Port (0: a free one).
      work_dir: Where workers' directories and logs go (default: a new temporary one).

    Returns:
      ``(address, server, pool)``: ``host:port`` for ``beam.environment_config``, the gRPC
      server and the servicer (``pool.stop_all()`` stops the workers).

    Raises:
      DlpipeError: the address cannot be listened on.
    """
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.utils import thread_pool_executor

    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="dlpipe-beam-pool-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    pool = _servicer_class()(work_dir)
    server = grpc.server(thread_pool_executor.shared_unbounded_instance())
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpc's "Failed to bind"
        bound = 0
    if not bound:
        raise DlpipeError(f"The Beam worker pool cannot listen on {host}:{port} (in use, or "
                          "not an address of this machine). Expected a free port, or 0.")
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    return f"{'localhost' if host == LOOPBACK else host}:{bound}", server, pool


def serve_forever(host: str = LOOPBACK, port: int = 0, work_dir: Path | None = None) -> int:
    """Runs the pool until interrupted (Ctrl-C or SIGTERM); prints where it listens."""
    import signal

    address, server, pool = start(host, port, work_dir)
    print(f"Beam worker pool listening on {address} (workers' logs in {pool.work_dir})",
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1):
            pool.reap()
    except KeyboardInterrupt:
        pass
    server.stop(grace=None)
    pool.stop_all()
    return 0

