"""gRPC conformance with the official tensorflow-serving-api stubs, and TF Serving's codes,
on both gRPC transports."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    predict_pb2,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from serving import tensors
from tests.serving.conftest import digit_images, saved_model_call

# Every test on both gRPC transports (--grpc_implementation): the same answers and codes.
pytestmark = pytest.mark.parametrize("server", ["dlpipe", "grpcio"], indirect=True,
                                     scope="module")


@pytest.fixture(scope="module")
def stubs(server):
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def _example(image: np.ndarray) -> example_pb2.Example:
    ex = example_pb2.Example()
    ex.features.feature["image"].float_list.value.extend(image.reshape(-1).tolist())
    return ex


def test_predict(stubs, exports) -> None:
    prediction, _ = stubs
    images = digit_images(4)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.model_spec.version.value = 1
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(images))
    response = prediction.Predict(request, timeout=30)
    assert response.model_spec.name == "digits"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    want = saved_model_call(exports["digits_a"], "serving_default", image=images)
    np.testing.assert_allclose(tensors.make_ndarray(response.outputs["probabilities"]),
                               want["probabilities"], rtol=1e-6)
    np.testing.assert_array_equal(tensors.make_ndarray(response.outputs["class_id"]),
                                  want["class_id"])


def test_predict_accepts_typed_value_fields_and_output_filter(stubs) -> None:
    prediction, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "multi"
    request.model_spec.version_label = ""  # unset oneof member: latest version
    x = request.inputs["x"]
    x.dtype = 1  # DT_FLOAT, values in float_val (what tf.make_tensor_proto emits for scalars)
    x.tensor_shape.dim.add(size=2)
    x.tensor_shape.dim.add(size=3)
    x.float_val.append(1.5)  # TF pads with the last value: all six are 1.5
    request.inputs["n"].CopyFrom(tensors.make_tensor_proto(np.array([1, 2], dtype=np.int64)))
    request.inputs["s"].CopyFrom(tensors.make_tensor_proto(np.array([b"a", b"bc"], dtype=object)))
    request.output_filter.append("sum")
    response = prediction.Predict(request, timeout=30)
    assert list(response.outputs) == ["sum"]
    np.testing.assert_allclose(tensors.make_ndarray(response.outputs["sum"]), [5.5, 6.5])


def test_predict_agrees_with_tf_make_tensor_proto(stubs, exports) -> None:
    import tensorflow as tf

    prediction, _ = stubs
    images = digit_images(2, seed=5)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.model_spec.signature_name = "edge"
    request.model_spec.version_label = "stable"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(images))
    response = prediction.Predict(request, timeout=30)
    want = saved_model_call(exports["digits_a"], "edge", image=images)["probabilities"]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["probabilities"]), want,
                               rtol=1e-6)


def test_classify(stubs, exports) -> None:
    prediction, _ = stubs
    images = digit_images(3, seed=6)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "digits"
    request.model_spec.signature_name = "classify"
    request.model_spec.version.value = 2
    for img in images:
        request.input.example_list.examples.add().CopyFrom(_example(img))
    response = prediction.Classify(request, timeout=30)
    assert response.model_spec.version.value == 2
    want = saved_model_call(exports["digits_b"], "serving_default", image=images)
    got = [[c.score for c in cl.classes] for cl in response.result.classifications]
    np.testing.assert_allclose(got, want["probabilities"], rtol=1e-6)
    assert [c.label for c in response.result.classifications[0].classes] == list("0123456789")


def test_regress_with_context(stubs) -> None:
    prediction, _ = stubs
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "regress"
    request.model_spec.signature_name = "regress"
    ctx = request.input.example_list_with_context.context
    ctx.features.feature["x"].float_list.value.append(10.0)
    request.input.example_list_with_context.examples.add()  # takes x from the context
    own = request.input.example_list_with_context.examples.add()
    own.features.feature["x"].float_list.value.append(2.0)  # overrides the context
    response = prediction.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [7.0, 3.0]


def test_multi_inference(stubs) -> None:
    prediction, _ = stubs
    request = inference_pb2.MultiInferenceRequest()
    task = request.tasks.add()
    task.model_spec.name = "regress"
    task.model_spec.signature_name = "regress"
    task.method_name = "tensorflow/serving/regress"
    request.input.example_list.examples.add().features.feature["x"].float_list.value.append(4.0)
    response = prediction.MultiInference(request, timeout=30)
    assert len(response.results) == 1
    assert response.results[0].regression_result.regressions[0].value == 4.0
    assert response.results[0].model_spec.version.value == 1


def test_multi_inference_rejects_mixed_models(stubs) -> None:
    prediction, _ = stubs
    request = inference_pb2.MultiInferenceRequest()
    for name in ("regress", "digits"):
        task = request.tasks.add()
        task.model_spec.name = name
        task.method_name = "tensorflow/serving/regress"
    request.input.example_list.examples.add()
    with pytest.raises(grpc.RpcError) as err:
        prediction.MultiInference(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_get_model_metadata(stubs) -> None:
    prediction, _ = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "digits"
    request.metadata_field.append("signature_def")
    response = prediction.GetModelMetadata(request, timeout=30)
    assert response.model_spec.version.value == 2
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["classify"].method_name == "tensorflow/serving/classify"
    assert sig_map.signature_def["serving_default"].outputs["class_id"].dtype == 9  # DT_INT64


def test_get_model_status(stubs) -> None:
    _, model_service = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "digits"
    response = model_service.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state) for s in response.model_version_status] == [(1, 30), (2, 30)]
    assert all(s.status.error_code == 0 for s in response.model_version_status)


@pytest.mark.parametrize(
    "build, code, message",
    [
        (lambda r: (r.model_spec.__setattr__("name", "nope"),), grpc.StatusCode.NOT_FOUND,
         "Servable not found for request: Latest(nope)"),
        (lambda r: (r.model_spec.version.__setattr__("value", 9),), grpc.StatusCode.NOT_FOUND,
         "Servable not found for request: Specific(digits, 9)"),
        (lambda r: (r.model_spec.__setattr__("version_label", "x"),),
         grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: x"),
        (lambda r: (r.model_spec.__setattr__("signature_name", "nope"),),
         grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.'),
        (lambda r: (r.inputs["extra"].CopyFrom(tensors.make_tensor_proto(np.zeros(1))),),
         grpc.StatusCode.INVALID_ARGUMENT,
         "input size does not match signature: 2!=1 len({extra,image}) != len({image}). "
         "Sent extra: {extra}. Missing but required: {}."),
        (lambda r: (r.inputs["image"].CopyFrom(tensors.make_tensor_proto(np.zeros((1, 8, 8)))),),
         grpc.StatusCode.INVALID_ARGUMENT, "Expects arg 'image' to be float but double"),
        (lambda r: (r.inputs["image"].CopyFrom(
            tensors.make_tensor_proto(np.zeros((1, 4), np.float32))),),
         grpc.StatusCode.INVALID_ARGUMENT, "does not match the signature's shape [?,8,8]"),
        (lambda r: (r.output_filter.append("nope"),), grpc.StatusCode.INVALID_ARGUMENT,
         "output tensor alias not found in signature: nope"),
    ],
)
def test_predict_errors(stubs, build, code, message: str) -> None:
    prediction, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(digit_images(1)))
    build(request)
    with pytest.raises(grpc.RpcError) as err:
        prediction.Predict(request, timeout=30)
    assert err.value.code() == code
    assert message in err.value.details()


def test_malformed_tensor_proto_is_invalid_argument(stubs) -> None:
    prediction, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    image = request.inputs["image"]
    image.dtype = 1
    image.tensor_shape.dim.add(size=1)
    image.tensor_content = b"\x00" * 7  # not a whole number of floats
    with pytest.raises(grpc.RpcError) as err:
        prediction.Predict(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tensor_content holds 7 bytes" in err.value.details()


def test_status_and_metadata_errors(stubs) -> None:
    prediction, model_service = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as err:
        model_service.GetModelStatus(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "Could not find any versions of model nope"

    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = "digits"
    meta.metadata_field.append("weights")
    with pytest.raises(grpc.RpcError) as err:
        prediction.GetModelMetadata(meta, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "Metadata field weights is not supported"


def test_classify_errors(stubs) -> None:
    prediction, _ = stubs
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "digits"
    request.model_spec.signature_name = "classify"
    with pytest.raises(grpc.RpcError) as err:
        prediction.Classify(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "Input is empty."


def test_reload_config_adds_and_removes_models(server, serving_root: Path, stubs) -> None:
    _, model_service = stubs
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add()
    entry.name = "regress_copy"
    entry.base_path = str(serving_root / "regress")
    entry.model_platform = "tensorflow"
    keep = config.model_config_list.config.add()
    keep.name = "digits"
    keep.base_path = str(serving_root / "digits")
    keep.model_version_policy.all.SetInParent()
    keep.version_labels["stable"] = 1
    request = model_management_pb2.ReloadConfigRequest(config=config)
    try:
        response = model_service.HandleReloadConfigRequest(request, timeout=60)
        assert response.status.error_code == 0
        assert server.core.model_names() == ["digits", "regress_copy"]
        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = "regress_copy"
        assert model_service.GetModelStatus(status, timeout=30).model_version_status[0].state == 30
        status.model_spec.name = "multi"
        with pytest.raises(grpc.RpcError) as err:
            model_service.GetModelStatus(status, timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        from serving import config as config_lib
        from serving.service import served_models_from_config

        original = config_lib.read_models_config(serving_root / "models.config")
        server.core.set_models(served_models_from_config(original))
    assert server.core.model_names() == ["digits", "multi", "regress"]


def test_python_grpc_client(grpc_client, exports) -> None:
    images = digit_images(2, seed=7)
    out = grpc_client.predict("digits", {"image": images}, version=1)
    want = saved_model_call(exports["digits_a"], "serving_default", image=images)
    np.testing.assert_allclose(out["probabilities"], want["probabilities"], rtol=1e-6)
    result = grpc_client.classify(
        "digits", [{"image": img.reshape(-1).tolist()} for img in images],
        signature_name="classify", version=1).result
    np.testing.assert_allclose([[c.score for c in cl.classes] for cl in result.classifications],
                               want["probabilities"], rtol=1e-6)
    assert grpc_client.status("digits", label="canary").model_version_status[0].version == 2
