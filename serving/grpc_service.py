"""The gRPC API: TF Serving's two services over :class:`ModelService`.

The method handlers are built from the services' descriptors (the same names, request and
response types as ``tensorflow-serving-api``'s generated stubs), with two differences
from the generated ``add_*_to_server`` helpers: bytes that do not parse as the request
message are answered INVALID_ARGUMENT (grpcio's own deserializer answers INTERNAL), and
every call runs under a deadline (the client's, else the server's default).
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import symbol_database
from tensorflow_serving.apis import model_service_pb2, prediction_service_pb2

from serving import deadlines
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
    """Runs one API call: decode check, deadline, errors to status codes, metrics."""

    def __init__(self, service: ModelService, default_timeout: float | None) -> None:
        self.service = service
        self.default_timeout = default_timeout

    def call(self, api: str, fn: Callable[[Any], Any], model_name: Callable[[Any], str],
             request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        if isinstance(request, _Undecodable):
            code, message = Code.INVALID_ARGUMENT, (
                f"Cannot parse the request as a {request.message_name}: {request.reason}")
            self.service.observe("", None, api, "grpc", code, started)
            context.abort(grpc_code(code), message)
        name = model_name(request)
        left = context.time_remaining()
        if left is not None and left > 1e9:  # grpcio's way of saying "no deadline"
            left = None
        if left is None:
            timeout, source = self.default_timeout, "--grpc_default_timeout_in_ms"
        else:
            timeout, source = left, "the client's deadline"
        version = None
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
                log.exception("gRPC %s failed", api)
                code, message = Code.INTERNAL, f"Internal error: {e}"
        self.service.observe(name, version, api, "grpc", code, started)
        if code != Code.OK:
            context.abort(grpc_code(code), message)
        return response


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


def _handlers(service: ModelService, default_timeout: float | None,
              enable_reload: bool) -> list[grpc.GenericRpcHandler]:
    api = _Api(service, default_timeout)
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
    handlers = []
    for service_name, methods in operations.items():
        descriptor = files[service_name].DESCRIPTOR.services_by_name[service_name]
        method_handlers = {}
        for method in descriptor.methods:
            label, fn, name_of = methods[method.name]
            request_class = symbols.GetSymbol(method.input_type.full_name)
            response_class = symbols.GetSymbol(method.output_type.full_name)

            def behaviour(request, context, label=label, fn=fn, name_of=name_of):
                return api.call(label, fn, name_of, request, context)

            method_handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=_deserializer(request_class),
                response_serializer=response_class.SerializeToString,
            )
        handlers.append(grpc.method_handlers_generic_handler(descriptor.full_name,
                                                             method_handlers))
    return handlers


class GrpcServer:
    """A grpcio server with both services, bound to ``host:port`` (0: a free port).

    Args:
      credentials: Server TLS credentials (``--ssl_config_file``), or None for plaintext.
      default_timeout: Deadline in seconds of calls whose client set none (None: unbounded).
      enable_reload: Serve HandleReloadConfigRequest (off: it answers UNIMPLEMENTED).
    """

    def __init__(self, service: ModelService, host: str, port: int, *, max_threads: int = 64,
                 max_message_bytes: int = 256 << 20,
                 credentials: grpc.ServerCredentials | None = None,
                 default_timeout: float | None = None, enable_reload: bool = False) -> None:
        self._server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_threads, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        self._server.add_generic_rpc_handlers(
            tuple(_handlers(service, default_timeout, enable_reload)))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"Cannot bind the gRPC server to {address}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 10.0) -> None:
        """Rejects new calls and waits up to ``grace`` s for running ones."""
        self._server.stop(grace).wait()

