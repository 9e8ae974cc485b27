"""Issue 12's findings, one test each: bad input is a 4xx with a clear message, a request
costs memory in proportion to its size, every request has a deadline, metric labels stay
bounded, versions are ASCII digits, and the reload API is opt-in and cannot empty the server.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import time
import tracemalloc
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from serving import tensors
from serving.config import BatchingOptions
from serving.server import ModelServer, ServerOptions
from tests.model_fixtures import publish_version
from tests.serving.conftest import digit_images, saved_model_call

MiB = 1 << 20


def _post(url: str, body: str | bytes) -> requests.Response:
    return requests.post(url, data=body, timeout=60)


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel), channel)
    channel.close()


def _padded_request(dims: list[int], values: int = 1) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    tensor = request.inputs["image"]
    tensor.dtype = 1  # DT_FLOAT
    for d in dims:
        tensor.tensor_shape.dim.add(size=d)
    tensor.float_val.extend([1.0] * values)
    return request


def _grpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=60)
    return err.value


# ----- 1. REST: 400, not 500, for numbers and nesting numpy and Python refuse --------------
@pytest.mark.parametrize("body", [
    '{"instances": [' + "9" * 5000 + "]}",
    '{"instances": [[-' + "1" * 4301 + "]]}",
    '{"signature_name": ' + "7" * 4400 + "}",
], ids=["instances", "negative", "signature_name"])
def test_integer_literals_past_pythons_limit_are_a_parse_error(rest_url: str, body) -> None:
    resp = _post(f"{rest_url}/v1/models/digits:predict", body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"].startswith("JSON Parse error: Number too big to be stored in "
                                           "double at offset: ")


def test_a_version_past_int64_in_the_url_is_400(rest_url: str) -> None:
    for path in ("", "/metadata"):
        resp = requests.get(f"{rest_url}/v1/models/digits/versions/{'9' * 5000}{path}",
                            timeout=30)
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error.startswith("Failed to convert version: 9999") and "(5000 digits)" in error
        assert "int64" in error and len(error) < 300
    resp = _post(f"{rest_url}/v1/models/digits/versions/{'9' * 20}:predict", "{}")
    assert resp.status_code == 400 and "Failed to convert version" in resp.json()["error"]


@pytest.mark.parametrize("depth", [33, 100, 985])
def test_nesting_past_32_dimensions_is_400(rest_url: str, depth: int) -> None:
    nested = "[" * depth + "1.0" + "]" * depth
    for body in ('{"instances": ' + nested + "}", '{"inputs": ' + nested + "}"):
        resp = _post(f"{rest_url}/v1/models/digits:predict", body)
        assert resp.status_code == 400, resp.text
        assert "nested more than 32 levels deep; a tensor has at most 32 dimensions" in \
            resp.json()["error"]


def test_lone_surrogates_in_strings_are_400(rest_url: str) -> None:
    body = '{"instances": [{"x": [1.0, 2.0, 3.0], "n": 1, "s": "\\ud800"}]}'
    resp = _post(f"{rest_url}/v1/models/multi:predict", body)
    assert resp.status_code == 400, resp.text
    assert "is not valid UTF-8 text" in resp.json()["error"]


# ----- 2. gRPC: INVALID_ARGUMENT, not INTERNAL, for shapes numpy cannot build --------------
@pytest.mark.parametrize("dims, message", [
    ([2**40], "needs 1099511627776 values but 1 were sent"),
    ([2**63 - 1], "has more elements than a tensor can hold"),
    ([1] * 33, "the shape has 33 dimensions; at most 32 are supported"),
    ([2**32, 2**32], "has more elements than a tensor can hold"),
    ([2**62, 8, 0], "has more elements than a tensor can hold"),
], ids=["2**40", "2**63-1", "rank33", "product-overflow", "empty-overflow"])
def test_impossible_shapes_are_invalid_argument(stubs, dims, message) -> None:
    err = _grpc_error(stubs[0].Predict, _padded_request(dims))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert message in err.details()


@pytest.mark.parametrize("method", ["Predict", "Classify", "GetModelMetadata"])
def test_undecodable_bytes_are_invalid_argument(stubs, method: str) -> None:
    call = stubs[2].unary_unary(f"/tensorflow.serving.PredictionService/{method}",
                                request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)
    err = _grpc_error(call, b"\xff\xff\xff")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("Cannot parse the request as a tensorflow.serving.")


# ----- 3. Memory: a request's cost is bounded by its size; no cycle keeps arrays alive -----
def test_a_38_byte_request_cannot_allocate_256_mib(stubs) -> None:
    request = _padded_request([2**26])
    assert request.ByteSize() < 64
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        err = _grpc_error(stubs[0].Predict, request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "padded with its last value only up to 1048576 elements" in err.details()


def test_a_rejected_request_frees_its_arrays_at_once(stubs) -> None:
    # 2**20 floats (4 MiB) padded from one value is allowed; the shape then fails the
    # signature's [?,8,8]. The array must be freed when the call ends, not when the cyclic
    # garbage collector next runs (an exception kept in a local made such a cycle).
    request = _padded_request([2**20])
    _grpc_error(stubs[0].Predict, request)  # warm every code path first
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(3):
            err = _grpc_error(stubs[0].Predict, request)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert "does not match the signature's shape [?,8,8]" in err.details()
    assert peak - before >= 4 * MiB  # the array was built, so the measure means something
    assert after - before < 2 * MiB, f"{(after - before) / MiB:.1f} MiB still held"


# ----- 4. Bounded body size and a deadline for every request -----------------------------
@pytest.fixture(scope="module")
def slow_batches(serving_root: Path):
    """Default limits, and batches that wait 20 s to fill: a request stays queued."""
    srv = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_name="digits",
        model_base_path=str(serving_root / "digits"), poll_seconds=0,
        batching=BatchingOptions(max_batch_size=64, batch_timeout_micros=20_000_000,
                                 num_batch_threads=1),
        rest_timeout_ms=300, grpc_default_timeout_ms=300,
    )).start()
    yield srv
    srv.stop(grace=0.1)


def test_rest_requests_time_out_with_504(slow_batches) -> None:
    started = time.monotonic()
    resp = _post(f"http://127.0.0.1:{slow_batches.rest_port}/v1/models/digits:predict",
                 json.dumps({"instances": digit_images(1).tolist()}))
    waited = time.monotonic() - started
    assert resp.status_code == 504, resp.text
    assert "--rest_api_timeout_in_ms" in resp.json()["error"]
    assert waited < 15  # far below the 20 s batch timeout: the deadline ended the wait


def test_grpc_calls_without_a_deadline_get_the_servers_default(slow_batches) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{slow_batches.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(digit_images(1)))
    try:
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request)  # no client deadline
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "--grpc_default_timeout_in_ms" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request, timeout=0.5)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        channel.close()
    # The server itself gave up at the client's deadline (not only the client), long before
    # the 20 s batch timeout.
    deadline = time.monotonic() + 15
    while _deadline_errors(slow_batches) < 2:
        assert time.monotonic() < deadline, "the server did not honour the client deadline"
        time.sleep(0.05)


def _deadline_errors(server) -> float:
    prefix = ('dlpipe_serving_request_errors_total{api="predict",code="DEADLINE_EXCEEDED",'
              'model="digits",protocol="grpc",version=""} ')
    for line in server.metrics.exposition().decode().splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return 0.0


def test_default_body_limit_answers_413_before_parsing(slow_batches) -> None:
    assert ServerOptions().max_body_bytes == 16 * MiB
    body = b'{"instances": [' + b"1.0," * (17 * MiB // 4) + b"1.0]}"
    resp = _post(f"http://127.0.0.1:{slow_batches.rest_port}/v1/models/digits:predict", body)
    assert resp.status_code == 413
    assert resp.json()["error"].endswith(f"exceeds the limit of {16 * MiB} bytes "
                                         "(--max_request_bytes)")


# ----- 5. Metrics: only served models become labels ---------------------------------------
def test_unknown_model_names_do_not_become_metric_labels(server, rest_url, stubs) -> None:
    for i in range(30):
        _post(f"{rest_url}/v1/models/made-up-{i}:predict", '{"instances": [1]}')
        requests.get(f"{rest_url}/v1/models/made-up-status-{i}", timeout=30)
        request = _padded_request([1, 8, 8], 64)
        request.model_spec.name = f"made-up-grpc-{i}"
        _grpc_error(stubs[0].Predict, request)
    text = requests.get(f"{rest_url}/monitoring/prometheus/metrics", timeout=30).text
    assert "made-up" not in text
    assert 'model_name="(unknown)",status="NOT_FOUND"' in text


# ----- 6. Versions are ASCII digits only ---------------------------------------------------
def test_a_superscript_two_directory_is_not_a_version(tmp_path: Path, exports, caplog) -> None:
    base = tmp_path / "digits"
    publish_version(base, 1, exports["digits_a"])
    shutil.copytree(exports["digits_b"], base / "\u00b2")  # "²".isdigit() is True
    caplog.set_level(logging.ERROR, logger="dlpipe.serving")
    with ModelServer(ServerOptions(grpc_port=0, rest_port=0, model_name="digits",
                                   model_base_path=str(base), poll_seconds=0.1)) as srv:
        url = f"http://127.0.0.1:{srv.rest_port}/v1/models/digits"
        assert [s["version"] for s in requests.get(url, timeout=30).json()[
            "model_version_status"]] == ["1"]
        publish_version(base, 3, exports["digits_b"])  # polling goes on past the "²" dir
        deadline = time.monotonic() + 60
        while requests.get(url, timeout=30).json()["model_version_status"][-1]["version"] \
                != "3":
            assert time.monotonic() < deadline, "version 3 was never loaded"
            time.sleep(0.1)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


# ----- 8. The reload API is opt-in and cannot leave the server with nothing to serve -------
def _reload_request(*entries: tuple[str, str]) -> model_management_pb2.ReloadConfigRequest:
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.SetInParent()
    for name, base_path in entries:
        entry = config.model_config_list.config.add()
        entry.name, entry.base_path, entry.model_platform = name, base_path, "tensorflow"
    return model_management_pb2.ReloadConfigRequest(config=config)


def test_reload_config_is_off_by_default(serving_root: Path) -> None:
    with ModelServer(ServerOptions(grpc_port=0, rest_port=None, model_name="regress",
                                   model_base_path=str(serving_root / "regress"),
                                   poll_seconds=0)) as srv:
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")
        err = _grpc_error(model_service_pb2_grpc.ModelServiceStub(channel)
                          .HandleReloadConfigRequest, _reload_request(("etc", "/etc")))
        channel.close()
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "--enable_reload_config_api" in err.details()
        assert srv.core.model_names() == ["regress"]


def test_reload_config_that_leaves_no_model_available_is_refused(server, serving_root,
                                                                 stubs, exports) -> None:
    _, model_service, _ = stubs
    for entries, reason in [
        ([("digits", str(serving_root / "missing"))],
         f"digits: base_path {serving_root / 'missing'} is not a directory"),
        ([("etc", "/etc")], "etc: no version directory (ASCII digits, e.g. 1/) under /etc"),
        ([], "it names no model"),
    ]:
        err = _grpc_error(model_service.HandleReloadConfigRequest, _reload_request(*entries))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
        assert "no model would be available" in err.details() and reason in err.details()
        assert server.core.model_names() == ["digits", "multi", "regress"]
    images = digit_images(1, seed=3)
    out = tensors.make_ndarray(stubs[0].Predict(
        _digits_request(images), timeout=30).outputs["probabilities"])
    want = saved_model_call(exports["digits_b"], "serving_default", image=images)
    np.testing.assert_allclose(out, want["probabilities"], rtol=1e-6)


def _digits_request(images: np.ndarray) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(images))
    return request


# ----- 10. Errors in the client's terms, not TensorFlow's -----------------------------------
@pytest.mark.parametrize("path, body, message", [
    ("digits:classify", {"signature_name": "classify", "examples": [{"image": [1, 2, 3]}]},
     "Example 0: feature 'image' holds int64 values; the model expects float"),
    ("digits:classify", {"signature_name": "classify", "examples": [{"other": 1.0}]},
     "Feature 'image' is missing from an example; the model requires it, as float"),
    ("regress:regress", {"signature_name": "regress",
                         "examples": [{"x": 1.0}, {"x": [1.0, 2.0]}]},
     "Example 1: feature 'x' has 2 float values; the model expects shape [1]."),
    ("digits:predict", {"signature_name": "classify", "instances": ["not an example"]},
     "could not be parsed as a serialized tf.Example"),
])
def test_model_errors_name_the_bad_input_without_tensorflow_internals(
        rest_url: str, path: str, body: dict, message: str) -> None:
    resp = _post(f"{rest_url}/v1/models/{path}", json.dumps(body))
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert message in error
    for internal in ("Graph execution error", "{{", "[Op:", "Detected at node", "__inference"):
        assert internal not in error
