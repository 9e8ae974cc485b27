"""Python clients for TF Serving's REST and gRPC APIs (work against TF Serving too).

Both raise :class:`serving.errors.ServingError` with the server's code and message.

Example:
  >>> rest = RestClient("127.0.0.1", 8501)
  >>> rest.predict("digits", instances=[image])["predictions"]
  >>> grpc_client = GrpcClient("127.0.0.1", 8500)
  >>> grpc_client.predict("digits", {"image": batch})["probabilities"]
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from serving.errors import Code, ServingError

_HTTP_TO_CODE = {
    400: Code.INVALID_ARGUMENT, 401: Code.UNAUTHENTICATED, 403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND, 409: Code.ABORTED, 413: Code.RESOURCE_EXHAUSTED,
    429: Code.RESOURCE_EXHAUSTED, 499: Code.CANCELLED, 501: Code.UNIMPLEMENTED,
    503: Code.UNAVAILABLE, 504: Code.DEADLINE_EXCEEDED,
}


def to_json_value(value: Any) -> Any:
    """numpy arrays -> lists, bytes -> ``{"b64": ...}`` (TF Serving's binary form)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OS":
            return [to_json_value(v) for v in value.tolist()] if value.ndim else \
                to_json_value(value.item())
        return value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    return value


def _path(model: str, version: int | None, label: str | None) -> str:
    if version is not None and label:
        raise ValueError(f"Give a version or a label, not both. Received: {version!r}, {label!r}")
    path = f"/v1/models/{model}"
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label:
        path += f"/labels/{label}"
    return path


class RestClient:
    """TF Serving's REST API (``/v1/models/...``).

    Args:
      ca_cert: PEM file of the CA that signed the server's certificate: HTTPS
        (``dlpipe serve --ssl_config_file``).
      client_cert: (certificate, key) PEM files, for a server with ``client_verify``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8501, *, timeout: float = 30.0,
                 scheme: str = "http", ca_cert: str | None = None,
                 client_cert: tuple[str, str] | None = None) -> None:
        import requests

        if ca_cert or client_cert:
            scheme = "https"
        self.base_url = f"{scheme}://{host}:{port}"
        self.timeout = timeout
        self._session = requests.Session()
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's own verify.
        self._tls: dict[str, Any] = {}
        if ca_cert:
            self._tls["verify"] = ca_cert
        if client_cert:
            self._tls["cert"] = client_cert

    def close(self) -> None:
        self._session.close()

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        data = None if body is None else (
            body if isinstance(body, (bytes, str)) else json.dumps(to_json_value(body))
        )
        try:
            resp = self._session.request(method, self.base_url + path, data=data, **self._tls,
                                         timeout=self.timeout,
                                         headers={"Content-Type": "application/json"})
        except requests.RequestException as e:
            raise ServingError(Code.UNAVAILABLE, f"Cannot reach {self.base_url}: {e}") from e
        try:
            payload = resp.json()
        except ValueError:
            payload = {"error": resp.text}
        if resp.status_code != 200:
            message = payload.get("error", resp.text) if isinstance(payload, dict) else resp.text
            raise ServingError(_HTTP_TO_CODE.get(resp.status_code, Code.UNKNOWN), message)
        return payload

    def status(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        return self._request("GET", _path(model, version, label))

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        return self._request("GET", _path(model, version, label) + "/metadata")

    def predict(self, model: str, *, instances: Any = None, inputs: Any = None,
                signature_name: str = "", version: int | None = None,
                label: str | None = None) -> dict:
        """``:predict`` with row ``instances`` or columnar ``inputs``; returns the JSON."""
        body: dict[str, Any] = {}
        if signature_name:
            body["signature_name"] = signature_name
        if instances is not None:
            body["instances"] = instances
        if inputs is not None:
            body["inputs"] = inputs
        return self._request("POST", _path(model, version, label) + ":predict", body)

    def request(self, model: str, method: str, body: Any, *, version: int | None = None,
                label: str | None = None) -> dict:
        """POSTs a raw body (dict, str or bytes) to ``:predict|:classify|:regress``."""
        return self._request("POST", _path(model, version, label) + f":{method}", body)

    def classify(self, model: str, examples: Sequence[Mapping[str, Any]], *,
                 context: Mapping[str, Any] | None = None, signature_name: str = "",
                 version: int | None = None, label: str | None = None) -> list:
        body: dict[str, Any] = {"examples": list(examples)}
        if context is not None:
            body["context"] = context
        if signature_name:
            body["signature_name"] = signature_name
        return self.request(model, "classify", body, version=version, label=label)["results"]

    def regress(self, model: str, examples: Sequence[Mapping[str, Any]], *,
                context: Mapping[str, Any] | None = None, signature_name: str = "",
                version: int | None = None, label: str | None = None) -> list:
        body: dict[str, Any] = {"examples": list(examples)}
        if context is not None:
            body["context"] = context
        if signature_name:
            body["signature_name"] = signature_name
        return self.request(model, "regress", body, version=version, label=label)["results"]

    def metrics(self, path: str = "/monitoring/prometheus/metrics") -> str:
        resp = self._session.get(self.base_url + path, timeout=self.timeout, **self._tls)
        if resp.status_code != 200:
            raise ServingError(_HTTP_TO_CODE.get(resp.status_code, Code.UNKNOWN), resp.text)
        return resp.text


def _set_spec(spec: Any, model: str, signature_name: str, version: int | None,
              label: str | None) -> None:
    if version is not None and label:
        raise ValueError(f"Give a version or a label, not both. Received: {version!r}, {label!r}")
    spec.name = model
    if signature_name:
        spec.signature_name = signature_name
    if version is not None:
        spec.version.value = int(version)
    elif label:
        spec.version_label = label


def make_input(examples: Sequence[Any], context: Any = None) -> Any:
    """A ``tensorflow.serving.Input`` from tf.Examples or ``{feature: values}`` dicts."""
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import input_pb2

    from serving.json_codec import example_from_json

    def as_example(e: Any, target: Any) -> None:
        if isinstance(e, example_pb2.Example):
            target.CopyFrom(e)
        else:
            example_from_json(dict(e), target)

    request_input = input_pb2.Input()
    if context is not None:
        as_example(context, request_input.example_list_with_context.context)
        for e in examples:
            as_example(e, request_input.example_list_with_context.examples.add())
    else:
        for e in examples:
            as_example(e, request_input.example_list.examples.add())
    return request_input


class GrpcClient:
    """TF Serving's gRPC API through the official ``tensorflow-serving-api`` stubs.

    Args:
      ca_cert: PEM file of the CA that signed the server's certificate: a TLS channel
        (``dlpipe serve --ssl_config_file``).
      client_cert: (certificate, key) PEM files, for a server with ``client_verify``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8500, *, timeout: float = 30.0,
                 max_message_bytes: int = 256 << 20, ca_cert: str | None = None,
                 client_cert: tuple[str, str] | None = None) -> None:
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.target = f"{host}:{port}"
        self.timeout = timeout
        self._grpc = grpc
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if ca_cert or client_cert:
            def read(path: str | None) -> bytes | None:
                if not path:
                    return None
                with open(path, "rb") as f:
                    return f.read()

            cert, key = client_cert or (None, None)
            credentials = grpc.ssl_channel_credentials(read(ca_cert), read(key), read(cert))
            self._channel = grpc.secure_channel(self.target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(self.target, options=options)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.model_service = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise ServingError(Code(e.code().value[0]), e.details() or str(e)) from e

    def predict_request(self, request: Any) -> Any:
        return self._call(self.prediction.Predict, request)

    def predict(self, model: str, inputs: Mapping[str, Any], *, signature_name: str = "",
                version: int | None = None, label: str | None = None,
                output_filter: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Predict with numpy inputs; returns numpy outputs by name."""
        from tensorflow_serving.apis import predict_pb2

        from serving import tensors

        request = predict_pb2.PredictRequest()
        _set_spec(request.model_spec, model, signature_name, version, label)
        for k, v in inputs.items():
            request.inputs[k].CopyFrom(tensors.make_tensor_proto(v))
        request.output_filter.extend(output_filter)
        response = self.predict_request(request)
        return {k: tensors.make_ndarray(v) for k, v in response.outputs.items()}

    def classify(self, model: str, examples: Sequence[Any], *, context: Any = None,
                 signature_name: str = "", version: int | None = None,
                 label: str | None = None) -> Any:
        """Classify; returns the ``ClassificationResponse``."""
        from tensorflow_serving.apis import classification_pb2

        return self._call_on_examples(
            self.prediction.Classify, classification_pb2.ClassificationRequest(), model,
            examples, context, signature_name, version, label)

    def regress(self, model: str, examples: Sequence[Any], *, context: Any = None,
                signature_name: str = "", version: int | None = None,
                label: str | None = None) -> Any:
        """Regress; returns the ``RegressionResponse``."""
        from tensorflow_serving.apis import regression_pb2

        return self._call_on_examples(
            self.prediction.Regress, regression_pb2.RegressionRequest(), model, examples,
            context, signature_name, version, label)

    def _call_on_examples(self, method: Any, request: Any, model: str,
                          examples: Sequence[Any], context: Any, signature_name: str,
                          version: int | None, label: str | None) -> Any:
        """Fills a Classify/Regress request (model spec, tf.Example input) and sends it."""
        _set_spec(request.model_spec, model, signature_name, version, label)
        request.input.CopyFrom(make_input(examples, context))
        return self._call(method, request)

    def multi_inference(self, request: Any) -> Any:
        return self._call(self.prediction.MultiInference, request)

    def metadata(self, model: str, *, version: int | None = None,
                 label: str | None = None) -> Any:
        """GetModelMetadata (signature_def); returns the response."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        _set_spec(request.model_spec, model, "", version, label)
        request.metadata_field.append("signature_def")
        return self._call(self.prediction.GetModelMetadata, request)

    def signature_defs(self, model: str, **kwargs: Any) -> Any:
        """The model's SignatureDefMap (unpacked from the metadata response)."""
        from tensorflow_serving.apis import get_model_metadata_pb2

        response = self.metadata(model, **kwargs)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return sig_map

    def status(self, model: str, *, version: int | None = None,
               label: str | None = None) -> Any:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        _set_spec(request.model_spec, model, "", version, label)
        return self._call(self.model_service.GetModelStatus, request)

    def reload_config(self, config: Any) -> Any:
        """HandleReloadConfigRequest with a ``ModelServerConfig``."""
        from tensorflow_serving.apis import model_management_pb2

        request = model_management_pb2.ReloadConfigRequest()
        request.config.CopyFrom(config)
        return self._call(self.model_service.HandleReloadConfigRequest, request)
