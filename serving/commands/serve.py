"""``dlpipe serve``: the embedded model server, with TF Serving's own flag names.

A deployment script written for ``tensorflow_model_server`` runs unchanged with
``dlpipe serve`` (``--port``, ``--rest_api_port``, ``--model_name``, ``--model_base_path``,
``--model_config_file``, ``--enable_batching``, ``--batching_parameters_file``,
``--monitoring_config_file``, ``--file_system_poll_wait_seconds``...). Differences: both
APIs bind to loopback unless ``--host`` / ``--rest_api_host`` say otherwise, and the
Prometheus endpoint is on by default; ``--ssl_config_file`` secures REST as well as gRPC;
HandleReloadConfigRequest answers only with ``--enable_reload_config_api``; gRPC calls
without a client deadline get ``--grpc_default_timeout_in_ms``; ``--num_workers`` serving
processes (default one per core) share the ports (:mod:`serving.workers`).
docs/serving-security.md says how to expose the server beyond loopback.
"""

from __future__ import annotations

import argparse
import gc
import sys

SWITCH_INTERVAL_S = 0.0005
"""Python's GIL switch interval in the serving processes (its default is 0.005)."""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, received {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--port", type=int, default=8500, help="gRPC port (0: a free port). Default 8500.")
    a("--rest_api_port", type=int, default=8501,
      help="REST port; 0 disables REST, as in TF Serving. Default 8501.")
    a("--host", "--grpc_host", dest="host", default="127.0.0.1",
      help="Address the gRPC API binds to (default loopback; 0.0.0.0 for every interface).")
    a("--rest_api_host", default=None, help="Address the REST API binds to (default: --host).")
    a("--model_name", default="", help="Single-model mode: the model name (default 'default').")
    a("--model_base_path", default="",
      help="Single-model mode: directory of integer version subdirectories.")
    a("--model_config_file", default="", help="Text-format ModelServerConfig (models.config).")
    a("--model_config_file_poll_wait_seconds", type=float, default=0.0,
      help="Re-read --model_config_file this often (0: never).")
    a("--file_system_poll_wait_seconds", type=float, default=1.0,
      help="Poll base paths for new versions this often (0: only at startup). Default 1.")
    a("--enable_batching", type=_bool, nargs="?", const=True, default=False,
      help="Server-side dynamic batching.")
    a("--batching_parameters_file", default="",
      help="Text-format BatchingParameters (used with --enable_batching).")
    a("--monitoring_config_file", default="",
      help="Text-format MonitoringConfig (Prometheus path; enable: false turns it off).")
    a("--enable_model_warmup", type=_bool, nargs="?", const=True, default=True,
      help="Warm each version up before serving it (default true).")
    a("--rest_api_num_threads", type=int, default=16,
      help="Threads running REST requests, per worker (batched predicts run on the event "
           "loop instead).")
    a("--grpc_max_threads", type=int, default=64,
      help="Threads running gRPC calls, per worker (batched predicts run on the event loop "
           "instead).")
    a("--grpc_implementation", default="dlpipe", choices=("dlpipe", "grpcio"),
      help="The gRPC transport: dlpipe's own HTTP/2 server (default; a quarter to a "
           "half of grpcio's CPU time per call) or grpcio's grpc.aio server. Same API and "
           "answers.")
    a("--max_request_bytes", type=int, default=16 << 20,
      help="REST body size limit; larger bodies get 413 (default 16 MiB). Decoding a body "
           "costs time and memory in proportion to its size.")
    a("--rest_api_timeout_in_ms", type=int, default=30_000,
      help="Deadline of every REST request; past it the answer is 504 (default 30000).")
    a("--grpc_default_timeout_in_ms", type=int, default=300_000,
      help="Deadline of gRPC calls whose client set none; a client's deadline is always "
           "honoured (default 300000; 0: no bound, as in TF Serving).")
    a("--ssl_config_file", default="",
      help="Text-format SSLConfig (server_key, server_cert, custom_ca, client_verify; PEM "
           "contents): TLS on the gRPC and the REST port.")
    a("--enable_reload_config_api", type=_bool, nargs="?", const=True, default=False,
      help="Serve gRPC HandleReloadConfigRequest (default off: anyone who can reach the port "
           "could change what is served). A reload that would leave no model available is "
           "refused either way.")
    a("--backend", choices=("tensorflow", "onnx", "tflite"), default="tensorflow",
      help="tensorflow: SavedModels; onnx / tflite: model.onnx / *.tflite version dirs "
           "from the edge export.")
    a("--num_workers", type=int, default=0,
      help="Serving processes sharing the two ports (SO_REUSEPORT), each with its own models "
           "and batching; versions switch in all of them together. Default 0: one per core "
           "this process may use. One process cannot use more than about one core (Python's "
           "GIL).")
    a("--tensorflow_intra_op_parallelism", type=int, default=0,
      help="Threads inside one TensorFlow / ONNX Runtime / LiteRT operation, per worker "
           "(0: the backend's default with one worker, cores / workers with several).")
    a("--tensorflow_inter_op_parallelism", type=int, default=0,
      help="TensorFlow operations run at once, per worker (0: as the intra-op default).")
    a("--log_level", default="INFO", help="Python log level (DEBUG, INFO, WARNING).")
    # Set by dlpipe serve for the worker processes it starts (not for users).
    a("--worker_index", type=int, default=0, help=argparse.SUPPRESS)
    a("--worker_dir", default="", help=argparse.SUPPRESS)


def options_from_args(args: argparse.Namespace):  # -> serving.server.ServerOptions
    """ServerOptions from parsed flags (config files are read and checked here)."""
    from pathlib import Path

    from serving import config as config_lib
    from serving.server import ServerOptions

    batching = None
    if args.enable_batching:
        batching = (config_lib.read_batching_parameters(Path(args.batching_parameters_file))
                    if args.batching_parameters_file else config_lib.BatchingOptions())
    metrics_path: str | None = config_lib.PROMETHEUS_PATH
    if args.monitoring_config_file:
        mon = config_lib.read_monitoring_config(Path(args.monitoring_config_file))
        prom = mon.prometheus_config
        metrics_path = (prom.path or config_lib.PROMETHEUS_PATH) if prom.enable else None
    return ServerOptions(
        grpc_port=args.port,
        rest_port=args.rest_api_port or None,
        host=args.host,
        rest_host=args.rest_api_host,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        model_config_file=args.model_config_file,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        backend=args.backend,
        poll_seconds=args.file_system_poll_wait_seconds,
        batching=batching,
        metrics_path=metrics_path,
        max_body_bytes=args.max_request_bytes,
        grpc_max_threads=args.grpc_max_threads,
        grpc_implementation=args.grpc_implementation,
        rest_threads=args.rest_api_num_threads,
        warmup=args.enable_model_warmup,
        rest_timeout_ms=args.rest_api_timeout_in_ms,
        grpc_default_timeout_ms=args.grpc_default_timeout_in_ms,
        enable_reload_config_api=args.enable_reload_config_api,
        ssl_config_file=args.ssl_config_file,
    )


def _flag_list(args: argparse.Namespace, **override: object) -> list[str]:
    """The flags that reproduce ``args`` (with ``override``), for a worker process."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    flags = []
    for action in parser._actions:
        if not action.option_strings:
            continue
        value = override.get(action.dest, getattr(args, action.dest, action.default))
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        flags.append(f"{action.option_strings[0]}={value}")
    return flags


def _thread_counts(args: argparse.Namespace, num_workers: int) -> tuple[int, int]:
    """(intra-op, inter-op) threads per worker: the flags, else shares of the cores."""
    from serving.workers import default_num_workers

    intra, inter = args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism
    if num_workers > 1:
        share = max(1, default_num_workers() // num_workers)
        intra = intra or share
        inter = inter or share
    return intra, inter


def _configure_tensorflow(intra: int, inter: int) -> None:
    if not intra and not inter:
        return
    from dlpipe.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    if intra:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter:
        tf.config.threading.set_inter_op_parallelism_threads(inter)


def main(args: argparse.Namespace) -> int:
    import logging

    from dlpipe.errors import DlpipeError
    from serving.config import ServingConfigError

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("dlpipe.serving.access").setLevel(logging.WARNING)
    if args.batching_parameters_file and not args.enable_batching:
        logging.warning("--batching_parameters_file is ignored without --enable_batching")
    from serving.workers import WorkerPool, default_num_workers, die_with_parent

    # The event loops, the batch threads and the model runtime hand the GIL to each other
    # thousands of times a second; at Python's default 5 ms a thread that wakes up waits
    # behind a busy one for that long (measured here: gRPC at 0.5 ms served 1.4-2.9x more).
    sys.setswitchinterval(SWITCH_INTERVAL_S)

    num_workers = args.num_workers or default_num_workers()
    if num_workers < 1:
        raise DlpipeError(f"--num_workers must be >= 0. Received: {args.num_workers}")
    pool = None
    try:
        options = options_from_args(args)
        options.intra_op_threads, inter = _thread_counts(args, num_workers)
        if args.backend == "tensorflow":
            _configure_tensorflow(options.intra_op_threads, inter)
        from serving.server import ModelServer

        if args.worker_dir:  # a worker started by the first dlpipe serve process
            die_with_parent()
            options.reuse_port, options.worker_dir = True, args.worker_dir
            options.worker_index, options.num_workers = args.worker_index, num_workers
        elif num_workers > 1:
            options.validate()  # config errors before any worker starts
            pool = WorkerPool(
                num_workers,
                lambda grpc_port, rest_port, index, directory: _flag_list(
                    args, port=grpc_port, rest_api_port=rest_port, num_workers=num_workers,
                    worker_index=index, worker_dir=directory),
                options.host, options.rest_host or options.host, options.grpc_port,
                options.rest_port)
            options.grpc_port = pool.grpc_port
            options.rest_port = pool.rest_port
            options.reuse_port, options.worker_dir = True, str(pool.directory)
            options.worker_index, options.num_workers = 0, num_workers
            pool.start()
        server = ModelServer(options)
        if pool is not None:
            server.add_stop_hook(pool.stop)
        server.start()
        if pool is not None:
            pool.wait_ready()
    except ServingConfigError as e:
        if pool is not None:
            pool.stop(grace=0)
        raise DlpipeError(str(e)) from e
    except OSError as e:
        if pool is not None:
            pool.stop(grace=0)
        raise DlpipeError(f"Cannot start the server: {e}") from e
    # A full collection walks every object TensorFlow and the models created (here about
    # 360,000: half a second, a pause every request waits through). Frozen after start-up,
    # they are not walked again; versions loaded later are.
    gc.collect()
    gc.freeze()
    # One machine-readable line, so scripts and tests can find the bound ports.
    tls = " (TLS)" if options.ssl_config_file else ""
    print(f"dlpipe serve: gRPC on {options.host}:{server.grpc_port}, REST on "
          f"{options.rest_host or options.host}:{server.rest_port or 'disabled'}{tls}",
          flush=True)
    server.serve_forever()
    if not args.worker_dir:
        print("dlpipe serve: stopped", flush=True)
    return 0
