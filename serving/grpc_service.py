"""The gRPC API: TF Serving's two services over :class:`ModelService`.

The method handlers are built from the services' descriptors (the same names, request and
response types as ``tensorflow-serving-api``'s generated stubs), with two differences
from the generated ``add_*_to_server`` helpers: bytes that do not parse as the request
message are answered INVALID_ARGUMENT (grpcio's own deserializer answers INTERNAL), and
every call runs under a deadline (the client's, else the server's default).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import symbol_database
from tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

from serving import deadlines, h2, tensors
from serving.backends.base import DEFAULT_SIGNATURE
from serving.batching import outcome, wait_task
from serving.errors import Code, ServingError
from serving.service import ModelService

log = logging.getLogger("dlpipe.serving.grpc")

_GRPC_CODES = {c.value[0]: c for c in grpc.StatusCode}


def grpc_code(code: Code) -> grpc.StatusCode:
    return _GRPC_CODES[int(code)]


class _Undecodable:
    """Stands for request bytes that did not parse, so the handler can answer 400-style."""

    def __init__(self, message_name: str, reason: str) -> None:
        self.message_name = message_name
        self.reason = reason


def _deserializer(message_class: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception as e:  # DecodeError, or whatever else protobuf raises on bad bytes
            return _Undecodable(message_class.DESCRIPTOR.full_name, str(e) or type(e).__name__)

    return parse


class _Api:
    """Runs one API call: decode check, deadline, errors to status codes, metrics.

    A batched Predict is decoded on the event loop and batched with the others the loop
    received; the batch runs on the loop (no thread hand-off, no thread held while a call
    waits); every other call runs on the thread pool (``--grpc_max_threads``).
    """

    def __init__(self, service: ModelService, default_timeout: float | None,
                 executor: concurrent.futures.Executor) -> None:
        self.service = service
        self.default_timeout = default_timeout
        self.executor = executor

    async def call(self, api: str, fn: Callable[[Any], Any], model_name: Callable[[Any], str],
                   request: Any, context: grpc.aio.ServicerContext) -> Any:
        """The call under grpcio's server."""
        left = context.time_remaining()
        if left is not None and left > 1e9:  # grpcio's way of saying "no deadline"
            left = None
        code, message, response = await self.run(api, fn, model_name, request, left)
        if code != Code.OK:
            await context.abort(grpc_code(code), message)
        return response

    async def run(self, api: str, fn: Callable[[Any], Any], model_name: Callable[[Any], str],
                  request: Any, left: float | None) -> tuple[Code, str, Any]:
        """(code, message, response message) of a call whose client allows ``left`` more
        seconds (None: no deadline)."""
        started = time.perf_counter()
        if isinstance(request, _Undecodable):
            code, message = Code.INVALID_ARGUMENT, (
                f"Cannot parse the request as a {request.message_name}: {request.reason}")
            self.service.observe("", None, api, "grpc", code, started)
            return code, message, None
        name = model_name(request)
        if left is None:
            timeout, source = self.default_timeout, "--grpc_default_timeout_in_ms"
        else:
            timeout, source = left, "the client's deadline"
        result = None
        if api == "predict":
            result = await self._batched_predict(request, timeout, source)
        if result is None:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.executor, self._run, fn, request,
                                                timeout, source)
        code, message, response, version = result
        self.service.observe(name, version, api, "grpc", code, started)
        return code, message, response

    @staticmethod
    def _run(fn: Callable[[Any], Any], request: Any, timeout: float | None,
             source: str) -> tuple[Code, str, Any, int | None]:
        """An operation on a pool thread: (code, message, response, version)."""
        version = None
        response = None
        # Only the code and message outlive the except blocks: keeping the exception would
        # make a cycle (exception -> traceback -> this frame) holding the request's arrays.
        code, message = Code.OK, ""
        with deadlines.deadline(timeout, source):
            try:
                result = fn(request)
                if isinstance(result, tuple):
                    response, loaded = result
                    version = loaded.version
                else:
                    response = result
            except ServingError as e:
                code, message = e.code, e.message
            except Exception as e:  # a bug, not a bad request
                log.exception("gRPC call failed")
                code, message = Code.INTERNAL, f"Internal error: {e}"
        return code, message, response, version

    async def _batched_predict(self, request: Any, timeout: float | None,
                               source: str) -> tuple[Code, str, Any, int | None] | None:
        """A Predict queued from the loop; None when its version has no batching. As on
        the thread pool, the version is reported (metrics) only with a response."""
        service = self.service
        code, message = Code.OK, ""
        with deadlines.deadline(timeout, source):
            try:
                loaded = service._resolve(request.model_spec)
                if not loaded.batching:
                    return None
                task, scheduler = self._enqueue(loaded, request)
                if not await wait_task(task, timeout):
                    scheduler.cancel_on_loop(task)
                    raise deadlines.exceeded("waiting for the batch to run")
                signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
                outputs = outcome(task)
                output_filter = list(request.output_filter)
                if output_filter:
                    outputs = {k: outputs[k] for k in output_filter}
                return (Code.OK, "", service.predict_response(loaded, request, signature_name,
                                                              outputs), loaded.version)
            except ServingError as e:
                code, message = e.code, e.message
            except Exception as e:  # a bug, not a bad request
                log.exception("gRPC Predict failed")
                code, message = Code.INTERNAL, f"Internal error: {e}"
        return code, message, None, None

    @staticmethod
    def _enqueue(loaded: Any, request: Any) -> tuple[Any, Any]:
        """Decodes the inputs, checks them and queues them (the arrays live only in the
        task from here on, so a rejected request frees them at once)."""
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        inputs = {k: tensors.make_ndarray(v) for k, v in request.inputs.items()}
        sig = loaded.signature(signature_name)
        deadlines.check("waiting to run the model")
        loaded.check_batched(sig, inputs, list(request.output_filter))
        scheduler = loaded.scheduler(sig.name)
        return scheduler.enqueue_on_loop(inputs), scheduler


def _spec_name(request: Any) -> str:
    return request.model_spec.name


def _first_task_name(request: Any) -> str:
    return request.tasks[0].model_spec.name if request.tasks else ""


def _reload_disabled(request: Any) -> Any:
    raise ServingError(
        Code.UNIMPLEMENTED,
        "HandleReloadConfigRequest is disabled on this server. Start it with "
        "--enable_reload_config_api to allow model config changes over gRPC (and only where "
        "clients are trusted: loopback, or TLS with client certificates).",
    )


class _Method:
    """One RPC: its API label (metrics), operation, model name of a request, messages."""

    def __init__(self, label: str, fn: Callable, name_of: Callable, request_class: Any,
                 response_class: Any) -> None:
        self.label = label
        self.fn = fn
        self.name_of = name_of
        self.parse = _deserializer(request_class)
        self.serialize = response_class.SerializeToString


def _methods(service: ModelService, enable_reload: bool) -> dict[str, dict[str, _Method]]:
    """service full name -> method name -> :class:`_Method`, from the services' descriptors."""
    # method name -> (api label, operation, model name of a request)
    operations: dict[str, dict[str, tuple[str, Callable, Callable]]] = {
        "PredictionService": {
            "Classify": ("classify", service.classify, _spec_name),
            "Regress": ("regress", service.regress, _spec_name),
            "Predict": ("predict", service.predict, _spec_name),
            "MultiInference": ("multi_inference", service.multi_inference, _first_task_name),
            "GetModelMetadata": ("metadata", service.get_model_metadata, _spec_name),
        },
        "ModelService": {
            "GetModelStatus": ("status", service.get_model_status, _spec_name),
            "HandleReloadConfigRequest": (
                "reload_config",
                service.reload_config if enable_reload else _reload_disabled,
                lambda request: ""),
        },
    }
    files = {"PredictionService": prediction_service_pb2, "ModelService": model_service_pb2}
    symbols = symbol_database.Default()
    table: dict[str, dict[str, _Method]] = {}
    for service_name, methods in operations.items():
        descriptor = files[service_name].DESCRIPTOR.services_by_name[service_name]
        table[descriptor.full_name] = {
            method.name: _Method(*methods[method.name],
                                 symbols.GetSymbol(method.input_type.full_name),
                                 symbols.GetSymbol(method.output_type.full_name))
            for method in descriptor.methods}
    return table


def _grpcio_handlers(api: _Api, methods: dict[str, dict[str, _Method]]
                     ) -> list[grpc.GenericRpcHandler]:
    handlers = []
    for service_name, by_name in methods.items():
        method_handlers = {}
        for name, method in by_name.items():
            async def behaviour(request, context, method=method):
                return await api.call(method.label, method.fn, method.name_of, request, context)

            method_handlers[name] = grpc.unary_unary_rpc_method_handler(
                behaviour, request_deserializer=method.parse,
                response_serializer=method.serialize)
        handlers.append(grpc.method_handlers_generic_handler(service_name, method_handlers))
    return handlers


def _h2_handler(api: _Api, methods: dict[str, dict[str, _Method]]) -> h2.Handler:
    by_path = {f"/{service_name}/{name}": method
               for service_name, by_name in methods.items() for name, method in by_name.items()}

    async def handle(path: str, message: bytes, left: float | None) -> tuple[Code, str, bytes]:
        method = by_path.get(path)
        if method is None:
            return Code.UNIMPLEMENTED, f"Method not found: {path[:200]}", b""
        code, text, response = await api.run(method.label, method.fn, method.name_of,
                                             method.parse(message), left)
        return code, text, method.serialize(response) if code == Code.OK else b""

    return handle


IMPLEMENTATIONS = ("dlpipe", "grpcio")
"""``--grpc_implementation``: this package's HTTP/2 transport (:mod:`serving.h2`, the
default: 2.5-4.6x less CPU per call, ``bench/grpc_transport.py``) or grpcio's ``grpc.aio``
server."""


class GrpcServer:
    """Both services on ``host:port`` (0: a free port), run on its own thread and event loop.

    Args:
      max_threads: Threads running the calls that are not batched Predicts.
      tls: The server's TLS material (``--ssl_config_file``), or None for plaintext.
      default_timeout: Deadline in seconds of calls whose client set none (None: unbounded).
      enable_reload: Serve HandleReloadConfigRequest (off: it answers UNIMPLEMENTED).
      reuse_port: Bind with SO_REUSEPORT, so that several worker processes share the port
        (off: a port in use is an error).
      implementation: One of :data:`IMPLEMENTATIONS`.
    """

    def __init__(self, service: ModelService, host: str, port: int, *, max_threads: int = 64,
                 max_message_bytes: int = 256 << 20, tls: Any = None,
                 default_timeout: float | None = None, enable_reload: bool = False,
                 reuse_port: bool = False, implementation: str = "dlpipe") -> None:
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}. "
                             f"Received: {implementation!r}")
        self._executor = concurrent.futures.ThreadPoolExecutor(max_threads,
                                                               thread_name_prefix="grpc")
        api = _Api(service, default_timeout, self._executor)
        methods = _methods(service, enable_reload)
        self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._host = host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None
        self._h2: h2.GrpcH2Server | None = None
        self._socket: socket.socket | None = None
        if implementation == "grpcio":
            self._handlers = tuple(_grpcio_handlers(api, methods))
            self._options = [
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.so_reuseport", 1 if reuse_port else 0),
            ]
            self._credentials = tls.grpc_credentials() if tls else None
            # Bind now, so that a port in use fails the constructor as before.
            self._loop.run_until_complete(self._bind())
        else:
            self._h2 = h2.GrpcH2Server(_h2_handler(api, methods),
                                       max_message_bytes=max_message_bytes,
                                       ssl_context=tls.ssl_context() if tls else None)
            self._socket = _bind_socket(host, port, reuse_port)
            self.port = self._socket.getsockname()[1]

    async def _bind(self) -> None:
        self._server = grpc.aio.server(options=self._options)
        self._server.add_generic_rpc_handlers(self._handlers)
        if self._credentials is None:
            self.port = self._server.add_insecure_port(self._address)
        else:
            self.port = self._server.add_secure_port(self._address, self._credentials)
        if self.port == 0:
            raise OSError(f"Cannot bind the gRPC server to {self._address}")

    def start(self) -> None:
        """Starts serving; returns once the port accepts connections."""
        if self._h2 is not None:
            self._loop.run_until_complete(self._h2.start(self._socket))
        else:
            self._loop.run_until_complete(self._server.start())
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc-loop",
                                        daemon=True)
        self._thread.start()
        if self._h2 is not None:
            return  # listening since start() above
        # grpc.aio opens its listener from the running loop: wait for it, so that a
        # client told "ready" is not refused.
        host = self._address.rsplit(":", 1)[0].strip("[]")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def stop(self, grace: float = 10.0) -> None:
        """Rejects new calls and waits up to ``grace`` s for running ones."""
        if self._server is None and self._h2 is None:
            return
        stopping = self._h2.stop(grace) if self._h2 is not None else self._server.stop(grace)
        if self._thread is None:  # never started
            if self._h2 is not None:
                stopping.close()
                self._socket.close()
            else:
                self._loop.run_until_complete(self._server.stop(None))
                stopping.close()
        else:
            future = asyncio.run_coroutine_threadsafe(stopping, self._loop)
            try:
                future.result(timeout=grace + 10)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._server = None
        self._h2 = None
        self._executor.shutdown(wait=False)
        if not self._loop.is_running():
            self._loop.close()


def _bind_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A listening TCP socket on ``host:port``; OSError when the port is taken."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"Cannot bind the gRPC server to {host}:{port}: "
                      f"{e.strerror}") from None
    return sock
