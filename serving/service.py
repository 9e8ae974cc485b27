"""TF Serving's API operations over the model manager, shared by REST and gRPC.

Each gRPC method takes and returns the official ``tensorflow_serving.apis`` protos; the
``rest_*`` methods take the URL parts and body and return the JSON text. Both raise
:class:`serving.errors.ServingError` with TF Serving's code and message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from google.protobuf import json_format

from dlpipe.contract import CLASSIFY_METHOD, REGRESS_METHOD, STATE_CODES
from serving import json_codec, tensors
from serving.backends.base import DEFAULT_SIGNATURE, Signature
from serving.config import ServedModel
from serving.core import LoadedVersion, ServerCore
from serving.errors import Code, ServingError, invalid_argument
from serving.metrics import ServerMetrics


def _apis() -> Any:
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        inference_pb2,
        model_management_pb2,
        predict_pb2,
        prediction_log_pb2,
        regression_pb2,
    )

    return (classification_pb2, get_model_metadata_pb2, get_model_status_pb2, inference_pb2,
            model_management_pb2, predict_pb2, prediction_log_pb2, regression_pb2)


(classification_pb2, get_model_metadata_pb2, get_model_status_pb2, inference_pb2,
 model_management_pb2, predict_pb2, prediction_log_pb2, regression_pb2) = _apis()

UNKNOWN_MODEL_LABEL = "(unknown)"
"""The ``model`` label of requests naming no served model (or none at all)."""

def serialized_examples(request_input: Any) -> np.ndarray:
    """InputToSerializedExampleTensor: one serialized tf.Example per input example.

    With a context, each string is the serialized context followed by the serialized
    example, which protobuf parsing merges (example features win), exactly as TF Serving.
    """
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        values = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        ctx = request_input.example_list_with_context.context.SerializeToString()
        values = [ctx + e.SerializeToString()
                  for e in request_input.example_list_with_context.examples]
    else:
        values = []
    if not values:
        raise invalid_argument("Input is empty.")
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _model_spec(spec: Any, name: str, version: int, signature_name: str) -> None:
    spec.name = name
    spec.version.value = version
    if signature_name:
        spec.signature_name = signature_name


class ModelService:
    """The API operations of a server."""

    def __init__(self, core: ServerCore, metrics: ServerMetrics | None = None,
                 reload_models: Callable[[list[ServedModel]], None] | None = None) -> None:
        self.core = core
        self.metrics = metrics
        self._reload_models = reload_models or (
            lambda models: core.set_models(models, keep_available=True))
        core.warmup_replayer = self.replay_warmup

    # ----- shared helpers -------------------------------------------------------------
    def _resolve(self, spec: Any) -> LoadedVersion:
        if not spec.name:
            raise invalid_argument("Missing ModelSpec name")
        choice = spec.WhichOneof("version_choice")
        version = spec.version.value if choice == "version" else None
        label = spec.version_label if choice == "version_label" else None
        return self.core.resolve(spec.name, version, label)

    def observe(self, model: str, version: Any, api: str, protocol: str, code: Code,
                started: float) -> None:
        """Records an answered request. Only served model names become metric labels: a
        name from a request for a model this server does not serve is counted as
        ``UNKNOWN_MODEL_LABEL`` (else every made-up name would add series for ever)."""
        if self.metrics is not None:
            if not self.core.serves(model):
                model, version = UNKNOWN_MODEL_LABEL, None
            self.metrics.observe(model, "" if version is None else str(version), api, protocol,
                                 code.name, time.perf_counter() - started)

    # ----- Predict --------------------------------------------------------------------
    def predict(self, request: Any) -> tuple[Any, LoadedVersion]:
        loaded = self._resolve(request.model_spec)
        return self.predict_on(loaded, request), loaded

    def predict_on(self, loaded: LoadedVersion, request: Any) -> Any:
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        inputs = {k: tensors.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = loaded.run(signature_name, inputs, list(request.output_filter))
        return self.predict_response(loaded, request, signature_name, outputs)

    @staticmethod
    def predict_response(loaded: LoadedVersion, request: Any, signature_name: str,
                         outputs: dict[str, np.ndarray]) -> Any:
        """The PredictResponse of a request whose signature ran."""
        response = predict_pb2.PredictResponse()
        _model_spec(response.model_spec, request.model_spec.name or loaded.model,
                    loaded.version, signature_name)
        for k, v in outputs.items():
            tensors.fill_tensor_proto(response.outputs[k], v)
        return response

    def rest_predict(self, loaded: LoadedVersion, body: bytes) -> str:
        sig, inputs, fmt = self.rest_predict_inputs(loaded, body)
        outputs = loaded.run(sig.name, inputs)
        return json_codec.encode_predict(outputs, fmt)

    @staticmethod
    def rest_predict_inputs(loaded: LoadedVersion,
                            body: bytes) -> tuple[Signature, dict[str, np.ndarray], str]:
        """A :predict body decoded: the signature, its input arrays and the request format
        (row or columnar, which the answer follows)."""
        doc = json_codec.parse_json(body)
        name = json_codec.signature_name(doc) or DEFAULT_SIGNATURE
        sig = loaded.servable.signatures.get(name)
        if sig is None:
            raise invalid_argument(f'Serving signature name: "{name}" not found in signature def')
        if not sig.inputs:
            raise invalid_argument(f"Failed to get input map for signature: {name}")
        inputs, fmt = json_codec.decode_predict(doc, sig.inputs)
        return sig, inputs, fmt

    # ----- Classify / Regress -----------------------------------------------------------
    @staticmethod
    def _signature_for(loaded: LoadedVersion, name: str, method: str, what: str) -> Signature:
        name = name or DEFAULT_SIGNATURE
        sig = loaded.servable.signatures.get(name)
        if sig is None:
            raise invalid_argument(f"No signature was found with the name: {name}")
        if sig.method_name != method:
            raise invalid_argument(
                f"Expected {what} signature method_name to be {method}. Was: {sig.method_name}"
            )
        if len(sig.inputs) != 1:
            raise invalid_argument("Expected one input Tensor.")
        if "inputs" not in sig.inputs:
            raise invalid_argument(f"No {what} inputs found in SignatureDef: {sig.name}")
        return sig

    def classify_on(self, loaded: LoadedVersion, signature_name: str, request_input: Any) -> Any:
        sig = self._signature_for(loaded, signature_name, CLASSIFY_METHOD, "classification")
        if len(sig.outputs) not in (1, 2):
            raise invalid_argument(
                f"Expected one or two output Tensors, found {len(sig.outputs)}"
            )
        if "classes" not in sig.outputs and "scores" not in sig.outputs:
            raise invalid_argument(
                'Expected classification signature outputs to contain at least one of "classes" '
                f'or "scores". Signature was: {sig.name}'
            )
        examples = serialized_examples(request_input)
        n = len(examples)
        out = loaded.run(sig.name, {"inputs": examples})
        classes, scores = out.get("classes"), out.get("scores")
        for label, t, kinds in (("classes", classes, "OSU"), ("scores", scores, "f")):
            if t is None:
                continue
            if t.ndim != 2:
                raise invalid_argument(
                    f"Expected Tensor shape: [batch_size num_classes] but got {list(t.shape)}"
                )
            if t.dtype.kind not in kinds or (label == "scores" and t.dtype != np.float32):
                want = "DT_STRING" if label == "classes" else "DT_FLOAT"
                raise invalid_argument(f"Expected {label} Tensor of {want}. Got: {t.dtype}")
            if t.shape[0] != n:
                raise invalid_argument(
                    f"Expected {label} output batch size of {n}. Got: {t.shape[0]}"
                )
        if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
            raise invalid_argument(
                "Tensors class and score should match in dim_size(1). Got "
                f"{classes.shape[1]} vs. {scores.shape[1]}"
            )
        num_classes = (classes if classes is not None else scores).shape[1]
        result = classification_pb2.ClassificationResult()
        for i in range(n):
            c = result.classifications.add()
            for j in range(num_classes):
                cl = c.classes.add()
                if classes is not None:
                    cl.label = tensors.to_bytes(classes[i, j]).decode("utf-8", errors="replace")
                if scores is not None:
                    cl.score = float(scores[i, j])
        return result

    def regress_on(self, loaded: LoadedVersion, signature_name: str, request_input: Any) -> Any:
        sig = self._signature_for(loaded, signature_name, REGRESS_METHOD, "regression")
        if len(sig.outputs) != 1 or "outputs" not in sig.outputs:
            raise invalid_argument(
                f"Expected one output Tensor named outputs. Found: {sorted(sig.outputs)}"
            )
        examples = serialized_examples(request_input)
        n = len(examples)
        t = loaded.run(sig.name, {"inputs": examples})["outputs"]
        if not (t.ndim == 1 or (t.ndim == 2 and t.shape[1] == 1)) or t.shape[0] != n:
            raise invalid_argument(
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but "
                f"got {list(t.shape)}"
            )
        if t.dtype != np.float32:
            raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {t.dtype}")
        result = regression_pb2.RegressionResult()
        for v in t.reshape(-1):
            result.regressions.add().value = float(v)
        return result

    def classify(self, request: Any) -> tuple[Any, LoadedVersion]:
        return self._on_examples(
            request, classification_pb2.ClassificationResponse(), self.classify_on)

    def regress(self, request: Any) -> tuple[Any, LoadedVersion]:
        return self._on_examples(request, regression_pb2.RegressionResponse(), self.regress_on)

    def _on_examples(self, request: Any, response: Any, run: Any) -> tuple[Any, LoadedVersion]:
        """A Classify/Regress call: resolve the version, run the signature, fill the reply."""
        spec = request.model_spec
        loaded = self._resolve(spec)
        response.result.CopyFrom(run(loaded, spec.signature_name, request.input))
        _model_spec(response.model_spec, spec.name, loaded.version, spec.signature_name)
        return response, loaded

    def rest_classify(self, loaded: LoadedVersion, body: bytes) -> str:
        doc = json_codec.parse_json(body)
        name = json_codec.signature_name(doc)
        result = self.classify_on(loaded, name, json_codec.decode_examples(doc, "classify"))
        return json_codec.encode_classification(result)

    def rest_regress(self, loaded: LoadedVersion, body: bytes) -> str:
        doc = json_codec.parse_json(body)
        name = json_codec.signature_name(doc)
        result = self.regress_on(loaded, name, json_codec.decode_examples(doc, "regress"))
        return json_codec.encode_regression(result)

    # ----- MultiInference ----------------------------------------------------------------
    def multi_inference(self, request: Any) -> tuple[Any, LoadedVersion]:
        if not request.tasks:
            raise invalid_argument("MultiInferenceRequest must contain at least one task")
        first = request.tasks[0].model_spec
        seen = set()
        for task in request.tasks:
            spec = task.model_spec
            if spec.name != first.name or spec.WhichOneof("version_choice") != \
                    first.WhichOneof("version_choice") or spec.version.value != \
                    first.version.value or spec.version_label != first.version_label:
                raise invalid_argument(
                    "Inference tasks must all use the same model (name and version)"
                )
            if spec.signature_name in seen:
                raise invalid_argument("Duplicate evaluation of signature: "
                                       f"{spec.signature_name or DEFAULT_SIGNATURE}")
            seen.add(spec.signature_name)
        loaded = self._resolve(first)
        response = inference_pb2.MultiInferenceResponse()
        for task in request.tasks:
            out = response.results.add()
            _model_spec(out.model_spec, task.model_spec.name, loaded.version,
                        task.model_spec.signature_name)
            if task.method_name == CLASSIFY_METHOD:
                out.classification_result.CopyFrom(
                    self.classify_on(loaded, task.model_spec.signature_name, request.input)
                )
            elif task.method_name == REGRESS_METHOD:
                out.regression_result.CopyFrom(
                    self.regress_on(loaded, task.model_spec.signature_name, request.input)
                )
            else:
                raise ServingError(
                    Code.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}"
                )
        return response, loaded

    # ----- Metadata and status ---------------------------------------------------------
    def get_model_metadata(self, request: Any) -> tuple[Any, LoadedVersion]:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != "signature_def":
                raise invalid_argument(f"Metadata field {field} is not supported")
        loaded = self._resolve(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _model_spec(response.model_spec, request.model_spec.name, loaded.version, "")
        response.metadata["signature_def"].Pack(loaded.servable.signature_def_map())
        return response, loaded

    def rest_metadata(self, name: str, version: int | None, label: str | None) -> str:
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        if label:
            request.model_spec.version_label = label
        request.metadata_field.append("signature_def")
        response, loaded = self.get_model_metadata(request)
        spec = json_format.MessageToJson(
            response.model_spec, including_default_value_fields=True,
            preserving_proto_field_name=True)
        sigs = json_format.MessageToJson(
            loaded.servable.signature_def_map(), including_default_value_fields=True,
            preserving_proto_field_name=True)
        return '{\n"model_spec":' + spec + ',\n"metadata": {"signature_def": ' + sigs + "}\n}\n"

    def get_model_status(self, request: Any) -> Any:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        choice = spec.WhichOneof("version_choice")
        statuses = self.core.version_status(
            spec.name,
            spec.version.value if choice == "version" else None,
            spec.version_label if choice == "version_label" else None,
        )
        response = get_model_status_pb2.GetModelStatusResponse()
        for version, status in statuses:
            mvs = response.model_version_status.add()
            mvs.version = version
            mvs.state = STATE_CODES[status.state]
            mvs.status.SetInParent()  # TF Serving always prints {"error_code": "OK", ...}
            if status.error is not None:
                mvs.status.error_code = int(status.error.code)
                mvs.status.error_message = status.error.message
        return response

    def rest_status(self, name: str, version: int | None, label: str | None) -> str:
        if not name:
            raise invalid_argument("Missing model name in request.")
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        if label:
            request.model_spec.version_label = label
        return json_format.MessageToJson(
            self.get_model_status(request), including_default_value_fields=True
        )

    # ----- Config reload -----------------------------------------------------------------
    def reload_config(self, request: Any) -> Any:
        """HandleReloadConfigRequest; refused when no model would be available after it."""
        config = request.config
        if config.WhichOneof("config") != "model_config_list":
            raise invalid_argument("ModelServerConfig must hold a model_config_list")
        models = [served_model_from_proto(c) for c in config.model_config_list.config]
        self._reload_models(models)
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = 0
        return response

    # ----- Warm-up ------------------------------------------------------------------------
    def replay_warmup(self, loaded: LoadedVersion, record: bytes) -> None:
        """Runs one PredictionLog from ``assets.extra/tf_serving_warmup_requests``."""
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            self.predict_on(loaded, log.predict_log.request)
        elif kind == "classify_log":
            req = log.classify_log.request
            self.classify_on(loaded, req.model_spec.signature_name, req.input)
        elif kind == "regress_log":
            req = log.regress_log.request
            self.regress_on(loaded, req.model_spec.signature_name, req.input)
        else:
            raise invalid_argument(f"Unsupported log_type for warmup: {kind}")


def served_model_from_proto(cfg: Any) -> ServedModel:
    """A :class:`ServedModel` from a ``ModelConfig`` proto (policy and labels included)."""
    if cfg.model_platform and cfg.model_platform != "tensorflow":
        raise invalid_argument(
            f"Model {cfg.name}: unsupported model_platform {cfg.model_platform!r} "
            "(expected 'tensorflow')"
        )
    if not cfg.base_path:
        raise invalid_argument(f"Model {cfg.name}: base_path is empty")
    policy = cfg.model_version_policy.WhichOneof("policy_choice")
    kwargs: dict[str, Any] = {}
    if policy == "all":
        kwargs["version_policy"] = "all"
    elif policy == "specific":
        kwargs["version_policy"] = "specific"
        kwargs["versions"] = tuple(int(v) for v in cfg.model_version_policy.specific.versions)
    elif policy == "latest":
        kwargs["num_versions"] = int(cfg.model_version_policy.latest.num_versions) or 1
    try:
        return ServedModel(
            name=cfg.name, base_path=cfg.base_path,
            labels={k: int(v) for k, v in cfg.version_labels.items()}, **kwargs,
        )
    except ValueError as e:
        raise invalid_argument(str(e)) from e


def served_models_from_config(config: Any) -> list[ServedModel]:
    """Every model of a ``ModelServerConfig``."""
    return [served_model_from_proto(c) for c in config.model_config_list.config]


