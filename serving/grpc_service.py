"""The gRPC API: the official TF Serving servicers over :class:`ModelService`."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving.errors import Code, ServingError
from serving.service import ModelService

log = logging.getLogger("dlpipe.serving.grpc")

_GRPC_CODES = {c.value[0]: c for c in grpc.StatusCode}


def grpc_code(code: Code) -> grpc.StatusCode:
    return _GRPC_CODES[int(code)]


class _Base:
    def __init__(self, service: ModelService) -> None:
        self.service = service

    def _call(self, api: str, request: Any, context: grpc.ServicerContext,
              fn: Callable[[Any], Any], model_name: str) -> Any:
        started = time.perf_counter()
        version = None
        try:
            result = fn(request)
            if isinstance(result, tuple):
                response, loaded = result
                version = loaded.version
            else:
                response = result
            self.service.observe(model_name, version, api, "grpc", Code.OK, started)
            return response
        except ServingError as e:
            error = e
        except Exception as e:  # a bug, not a bad request
            log.exception("gRPC %s failed", api)
            error = ServingError(Code.INTERNAL, f"Internal error: {e}")
        self.service.observe(model_name, version, api, "grpc", error.code, started)
        context.abort(grpc_code(error.code), error.message)


class PredictionServicer(_Base, prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService."""

    def Classify(self, request, context):  # noqa: N802 (gRPC method names)
        return self._call("classify", request, context, self.service.classify,
                          request.model_spec.name)

    def Regress(self, request, context):  # noqa: N802
        return self._call("regress", request, context, self.service.regress,
                          request.model_spec.name)

    def Predict(self, request, context):  # noqa: N802
        return self._call("predict", request, context, self.service.predict,
                          request.model_spec.name)

    def MultiInference(self, request, context):  # noqa: N802
        name = request.tasks[0].model_spec.name if request.tasks else ""
        return self._call("multi_inference", request, context, self.service.multi_inference,
                          name)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return self._call("metadata", request, context, self.service.get_model_metadata,
                          request.model_spec.name)


class ModelServicer(_Base, model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService."""

    def GetModelStatus(self, request, context):  # noqa: N802
        return self._call("status", request, context, self.service.get_model_status,
                          request.model_spec.name)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        return self._call("reload_config", request, context, self.service.reload_config, "")


class GrpcServer:
    """A grpcio server with both services, bound to ``host:port`` (0: a free port)."""

    def __init__(self, service: ModelService, host: str, port: int, *, max_threads: int = 64,
                 max_message_bytes: int = 256 << 20) -> None:
        self._server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_threads, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(service), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelServicer(service), self._server
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"Cannot bind the gRPC server to {address}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 10.0) -> None:
        """Rejects new calls and waits up to ``grace`` s for running ones."""
        self._server.stop(grace).wait()
