"""The embedded model server: model manager + REST + gRPC + metrics, started together.

Example:
  >>> from serving.server import ModelServer, ServerOptions
  >>> server = ModelServer(ServerOptions(model_name="digits",
  ...                                    model_base_path="/srv/models/digits",
  ...                                    grpc_port=0, rest_port=0)).start()
  >>> server.rest_port, server.grpc_port  # the ports actually bound
  >>> server.stop()
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from pathlib import Path

from serving import config as config_lib
from serving.config import BatchingOptions, ServedModel, ServingConfigError
from serving.core import CoreOptions, ServerCore
from serving.grpc_service import IMPLEMENTATIONS, GrpcServer
from serving.metrics import ServerMetrics
from serving.rest import DEFAULT_TIMEOUT_MS, RestServer
from serving.service import ModelService, served_models_from_config

log = logging.getLogger("dlpipe.serving")

DEFAULT_MAX_BODY_BYTES = 16 << 20
"""REST body limit (``--max_request_bytes``)."""
DEFAULT_GRPC_TIMEOUT_MS = 300_000
"""Deadline of a gRPC call whose client set none (TF Serving has no such bound)."""


@dataclasses.dataclass
class ServerOptions:
    """Options of :class:`ModelServer` (the ``dlpipe serve`` flags).

    Attributes:
      grpc_port: gRPC port; 0 binds a free port.
      rest_port: REST port; 0 binds a free port; None disables REST.
      host: gRPC bind address (loopback unless told otherwise).
      rest_host: REST bind address (default: ``host``).
      model_name: Single-model mode: the model's name.
      model_base_path: Single-model mode: its base path.
      model_config_file: A text-format ModelServerConfig (instead of name/base path).
      model_config_file_poll_wait_seconds: Re-read the config file this often (0: never).
      backend: ``tensorflow``, ``onnx`` or ``tflite``.
      poll_seconds: File system poll interval for new versions.
      batching: Server-side batching, or None.
      metrics_path: Prometheus path on the REST port; None disables it.
      max_body_bytes: REST request size limit (decoding costs time and memory in
        proportion to it: about 0.1 s and 12 bytes of memory per body byte, worst case).
      grpc_max_message_bytes: gRPC message size limit (TF Serving lifts gRPC's 4 MB).
      grpc_max_threads: gRPC worker threads (concurrent calls in the model).
      grpc_implementation: The gRPC transport: ``dlpipe`` (:mod:`serving.h2`) or ``grpcio``.
      rest_threads: Threads running REST requests.
      warmup: Warm each version up before it becomes AVAILABLE.
      rest_timeout_ms: Deadline of every REST request (``--rest_api_timeout_in_ms``).
      grpc_default_timeout_ms: Deadline of gRPC calls whose client set none; 0: none.
      enable_reload_config_api: Serve gRPC HandleReloadConfigRequest (off by default).
      ssl_config_file: A text-format SSLConfig: TLS on both ports.
      intra_op_threads: Threads a backend uses inside one operation (0: its default).
      reuse_port: Bind both ports with SO_REUSEPORT (a worker of a pool).
      worker_dir: The shared directory of a worker pool (:mod:`serving.workers`): metrics,
        version barrier, config reloads. Empty: a server on its own.
      worker_index: This worker's number in the pool (0: the ``dlpipe serve`` process).
      num_workers: Workers in the pool.
    """

    grpc_port: int = 8500
    rest_port: int | None = 8501
    host: str = "127.0.0.1"
    rest_host: str | None = None
    model_name: str = ""
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: float = 0.0
    backend: str = "tensorflow"
    poll_seconds: float = 1.0
    batching: BatchingOptions | None = None
    metrics_path: str | None = config_lib.PROMETHEUS_PATH
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    grpc_max_message_bytes: int = 256 << 20
    grpc_max_threads: int = 64
    grpc_implementation: str = "dlpipe"
    rest_threads: int = 16
    warmup: bool = True
    rest_timeout_ms: int = DEFAULT_TIMEOUT_MS
    grpc_default_timeout_ms: int = DEFAULT_GRPC_TIMEOUT_MS
    enable_reload_config_api: bool = False
    ssl_config_file: str = ""
    intra_op_threads: int = 0
    reuse_port: bool = False
    worker_dir: str = ""
    worker_index: int = 0
    num_workers: int = 1

    def validate(self) -> tuple:
        """Checks the options and reads the files they name, as :meth:`ModelServer.start`
        does first (``dlpipe serve`` calls it before starting worker processes).

        Returns:
          The TLS config (or None) and the model list.

        Raises:
          ServingConfigError: A bad value or file, with what was received.
        """
        if self.grpc_implementation not in IMPLEMENTATIONS:
            raise ServingConfigError(
                f"grpc_implementation must be one of {', '.join(IMPLEMENTATIONS)}. "
                f"Received: {self.grpc_implementation!r}")
        for name in ("rest_timeout_ms", "max_body_bytes"):
            if getattr(self, name) <= 0:
                raise ServingConfigError(
                    f"{name} must be > 0. Received: {name}={getattr(self, name)!r}")
        tls = None
        if self.ssl_config_file:
            from serving.tls import read_ssl_config

            tls = read_ssl_config(Path(self.ssl_config_file))
        return tls, self.models()

    def models(self) -> list[ServedModel]:
        """The model list from the config file or the single-model flags."""
        if self.model_config_file:
            if self.model_name or self.model_base_path:
                raise ServingConfigError(
                    "Use --model_config_file or --model_name/--model_base_path, not both. "
                    f"Received: model_config_file={self.model_config_file!r}, "
                    f"model_name={self.model_name!r}, model_base_path={self.model_base_path!r}"
                )
            cfg = config_lib.read_models_config(Path(self.model_config_file))
            try:
                return served_models_from_config(cfg)
            except Exception as e:
                raise ServingConfigError(f"{self.model_config_file}: {e}") from e
        if not self.model_base_path:
            raise ServingConfigError(
                "Nothing to serve: give --model_config_file, or --model_base_path "
                "(with --model_name, default 'default')."
            )
        return [ServedModel(name=self.model_name or "default",
                            base_path=str(Path(self.model_base_path).absolute()))]


class ModelServer:
    """TF Serving's REST and gRPC APIs in one process."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        barrier = None
        self._reloads = None
        if options.worker_dir:
            from serving import metrics as metrics_lib
            from serving.workers import SharedReloads, VersionBarrier

            shared = Path(options.worker_dir)
            metrics_lib.use_multiprocess_dir(shared / "metrics")
            self.metrics = ServerMetrics(multiprocess_dir=shared / "metrics")
            barrier = VersionBarrier(shared / "versions", options.worker_index,
                                     options.num_workers)
            self._reloads = SharedReloads(shared, options.worker_index, options.num_workers)
        else:
            self.metrics = ServerMetrics()
        self.core = ServerCore(
            CoreOptions(backend=options.backend, poll_seconds=options.poll_seconds,
                        batching=options.batching, warmup=options.warmup,
                        intra_op_threads=options.intra_op_threads, publish_barrier=barrier),
            self.metrics,
        )
        self.service = ModelService(self.core, self.metrics, reload_models=self._reload_models)
        self._stop_hooks: list = []
        self._grpc: GrpcServer | None = None
        self._rest: RestServer | None = None
        self._stopped = threading.Event()
        self._done = threading.Event()
        self._config_thread: threading.Thread | None = None
        self._config_mtime = 0.0

    def _reload_models(self, models: list[ServedModel]) -> None:
        """HandleReloadConfigRequest: applied here, then passed to the other workers."""
        self.core.set_models(models, keep_available=True)
        if self._reloads is not None:
            self._reloads.publish(models)

    def add_stop_hook(self, hook) -> None:
        """Runs ``hook(grace)`` alongside :meth:`stop` (e.g. stopping the other workers)."""
        self._stop_hooks.append(hook)

    @property
    def grpc_port(self) -> int:
        return self._grpc.port if self._grpc else 0

    @property
    def rest_port(self) -> int:
        return self._rest.port if self._rest else 0

    def start(self) -> ModelServer:
        """Loads the models (blocking until the first scan is done), then opens the ports."""
        opts = self.options
        tls, models = opts.validate()
        if opts.model_config_file:
            self._config_mtime = os.stat(opts.model_config_file).st_mtime
        self.core.set_models(models)
        grpc_timeout = opts.grpc_default_timeout_ms / 1000 if opts.grpc_default_timeout_ms > 0 \
            else None
        self._grpc = GrpcServer(self.service, opts.host, opts.grpc_port,
                                max_threads=opts.grpc_max_threads,
                                max_message_bytes=opts.grpc_max_message_bytes,
                                tls=tls, default_timeout=grpc_timeout,
                                enable_reload=opts.enable_reload_config_api,
                                reuse_port=opts.reuse_port,
                                implementation=opts.grpc_implementation)
        self._grpc.start()
        if opts.rest_port is not None:
            self._rest = RestServer(self.service, opts.rest_host or opts.host, opts.rest_port,
                                    threads=opts.rest_threads, max_body_bytes=opts.max_body_bytes,
                                    metrics_path=opts.metrics_path,
                                    timeout_ms=opts.rest_timeout_ms,
                                    ssl_context=tls.ssl_context() if tls else None,
                                    reuse_port=opts.reuse_port)
            self._rest.start()
        self.core.start_polling()
        if self._reloads is not None:
            threading.Thread(
                target=self._reloads.watch,
                args=(lambda models: self.core.set_models(models, keep_available=True),
                      self._stopped),
                name="reload-watch", daemon=True).start()
        if opts.model_config_file and opts.model_config_file_poll_wait_seconds > 0:
            self._config_thread = threading.Thread(
                target=self._watch_config, name="config-poll", daemon=True)
            self._config_thread.start()
        log.info("Serving gRPC on %s:%d, REST on %s:%s%s", opts.host, self.grpc_port,
                 opts.rest_host or opts.host, self.rest_port or "(disabled)",
                 " (TLS)" if tls else "")
        return self

    def _watch_config(self) -> None:
        path = self.options.model_config_file
        while not self._stopped.wait(self.options.model_config_file_poll_wait_seconds):
            try:
                mtime = os.stat(path).st_mtime
                if mtime != self._config_mtime:
                    self._config_mtime = mtime
                    self.core.set_models(self.options.models(), keep_available=True)
                    log.info("Reloaded model config %s", path)
            except Exception as e:  # a bad edit must not stop the server
                log.error("Cannot reload model config %s: %s", path, e)

    def stop(self, grace: float = 10.0) -> None:
        """Graceful shutdown: stop accepting, finish in-flight requests, unload models."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        threads = [threading.Thread(target=hook, args=(grace,)) for hook in self._stop_hooks]
        if self._rest is not None:
            threads.append(threading.Thread(target=self._rest.stop, args=(grace,)))
        if self._grpc is not None:
            threads.append(threading.Thread(target=self._grpc.stop, args=(grace,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.core.stop()
        self._done.set()

    def wait(self) -> None:
        """Blocks until :meth:`stop` (or SIGTERM/SIGINT via :meth:`serve_forever`)."""
        self._stopped.wait()

    def serve_forever(self, grace: float = 10.0) -> None:
        """Runs until SIGINT or SIGTERM, then shuts down gracefully."""
        def handler(signum: int, frame: object) -> None:
            threading.Thread(target=self.stop, args=(grace,), daemon=True).start()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        self.wait()
        self._done.wait()  # stop() runs on its own thread

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
