"""REST conformance: every route of TF Serving's REST API, and its error mapping."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import requests

from tests.serving.conftest import digit_images, saved_model_call


def _post(url: str, body, **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url, data=data, timeout=30, **kwargs)


# ----- status and metadata -------------------------------------------------------------
def test_status_lists_every_version(rest_url: str) -> None:
    resp = requests.get(f"{rest_url}/v1/models/digits", timeout=10)
    assert resp.status_code == 200
    assert resp.json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
    ]}


@pytest.mark.parametrize("suffix, version", [("/versions/2", "2"), ("/labels/stable", "1")])
def test_status_of_one_version(rest_url: str, suffix: str, version: str) -> None:
    resp = requests.get(f"{rest_url}/v1/models/digits{suffix}", timeout=10)
    assert resp.status_code == 200
    assert [s["version"] for s in resp.json()["model_version_status"]] == [version]


@pytest.mark.parametrize("suffix, version", [("", "2"), ("/versions/1", "1"),
                                             ("/labels/canary", "2")])
def test_metadata(rest_url: str, suffix: str, version: str) -> None:
    resp = requests.get(f"{rest_url}/v1/models/digits{suffix}/metadata", timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert body["model_spec"] == {"name": "digits", "version": version, "signature_name": ""}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classify", "edge"} <= set(sigs)
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    image = default["inputs"]["image"]
    assert image["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "8", "8"]
    assert set(default["outputs"]) == {"probabilities", "class_id"}
    assert sigs["classify"]["method_name"] == "tensorflow/serving/classify"


# ----- predict -------------------------------------------------------------------------
def test_predict_row_format_matches_the_saved_model(rest_url: str, exports) -> None:
    images = digit_images(3)
    resp = _post(f"{rest_url}/v1/models/digits/versions/1:predict",
                 {"instances": images.tolist()})
    assert resp.status_code == 200, resp.text
    predictions = resp.json()["predictions"]
    want = saved_model_call(exports["digits_a"], "serving_default", image=images)
    assert len(predictions) == 3
    np.testing.assert_allclose([p["probabilities"] for p in predictions],
                               want["probabilities"], rtol=1e-5, atol=1e-7)
    assert [p["class_id"] for p in predictions] == want["class_id"].tolist()


def test_predict_columnar_with_signature_name(rest_url: str, exports) -> None:
    images = digit_images(2, seed=1)
    resp = _post(f"{rest_url}/v1/models/digits/labels/canary:predict",
                 {"signature_name": "edge", "inputs": {"image": images.tolist()}})
    assert resp.status_code == 200, resp.text
    want = saved_model_call(exports["digits_b"], "edge", image=images)["probabilities"]
    # One output: the name is dropped in columnar format too.
    np.testing.assert_allclose(resp.json()["outputs"], want, rtol=1e-5, atol=1e-7)


def test_latest_version_answers_without_a_version(rest_url: str, exports) -> None:
    images = digit_images(1, seed=2)
    resp = _post(f"{rest_url}/v1/models/digits:predict",
                 {"signature_name": "edge", "instances": images.tolist()})
    want = saved_model_call(exports["digits_b"], "edge", image=images)["probabilities"]
    np.testing.assert_allclose(resp.json()["predictions"], want, rtol=1e-5, atol=1e-7)


def test_routes_are_case_insensitive(rest_url: str) -> None:
    resp = _post(f"{rest_url}/V1/MODELS/digits:PREDICT",
                 {"instances": digit_images(1).tolist()})
    assert resp.status_code == 200, resp.text


def test_multi_input_row_format_with_b64(rest_url: str) -> None:
    instances = [
        {"x": [1.0, 2.0, 3.0], "n": 4, "s": {"b64": base64.b64encode(b"\x00\xffab").decode()}},
        {"x": [0.5, 0.5, 0.0], "n": -1, "s": "hello"},
    ]
    resp = _post(f"{rest_url}/v1/models/multi:predict", {"instances": instances})
    assert resp.status_code == 200, resp.text
    predictions = resp.json()["predictions"]
    assert predictions[0] == {"echo_bytes": {"b64": base64.b64encode(b"\x00\xffab").decode()},
                              "length": 4, "sum": 10.0}
    assert predictions[1] == {"echo_bytes": {"b64": base64.b64encode(b"hello").decode()},
                              "length": 5, "sum": 0.0}


def test_multi_input_columnar_format(rest_url: str) -> None:
    body = {"inputs": {"x": [[1.0, 1.0, 1.0]], "n": [2], "s": ["abc"]}}
    resp = _post(f"{rest_url}/v1/models/multi:predict", body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"outputs": {"echo_bytes": [{"b64": "YWJj"}], "length": [3],
                                       "sum": [5.0]}}


def test_nan_and_infinity_are_accepted_and_emitted(rest_url: str) -> None:
    body = '{"inputs": {"x": [[NaN, 1.0, 1.0], [Infinity, 0, 0], [-Infinity, 0, 0]], ' \
           '"n": [0, 0, 0], "s": ["", "", ""]}}'
    resp = _post(f"{rest_url}/v1/models/multi:predict", body)
    assert resp.status_code == 200, resp.text
    assert '"sum": [NaN, Infinity, -Infinity]' in resp.text


# ----- classify and regress ---------------------------------------------------------------
def test_classify_matches_the_saved_model(rest_url: str, exports) -> None:
    images = digit_images(2, seed=3)
    examples = [{"image": [float(v) for v in img.reshape(-1)]} for img in images]
    resp = _post(f"{rest_url}/v1/models/digits/versions/1:classify",
                 {"signature_name": "classify", "examples": examples})
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    want = saved_model_call(exports["digits_a"], "serving_default", image=images)
    assert [[label for label, _ in r] for r in results] == [[str(i) for i in range(10)]] * 2
    np.testing.assert_allclose([[s for _, s in r] for r in results], want["probabilities"],
                               rtol=1e-5, atol=1e-7)


def test_classify_merges_the_context_into_each_example(rest_url: str, exports) -> None:
    images = digit_images(1, seed=4)
    flat = [float(v) for v in images.reshape(-1)]
    with_context = _post(f"{rest_url}/v1/models/digits:classify", {
        "signature_name": "classify", "context": {"image": flat}, "examples": [{}, {}]})
    assert with_context.status_code == 200, with_context.text
    plain = _post(f"{rest_url}/v1/models/digits:classify",
                  {"signature_name": "classify", "examples": [{"image": flat}]})
    # Same classes in the same order; scores equal up to float32 rounding (a batch of 2 and
    # a batch of 1 may take different kernels).
    got, want = with_context.json()["results"], plain.json()["results"] * 2
    assert [[c for c, _ in r] for r in got] == [[c for c, _ in r] for r in want]
    np.testing.assert_allclose([[s for _, s in r] for r in got],
                               [[s for _, s in r] for r in want], rtol=1e-5, atol=1e-6)


def test_regress(rest_url: str) -> None:
    resp = _post(f"{rest_url}/v1/models/regress:regress",
                 {"signature_name": "regress", "examples": [{"x": 1.0}, {"x": [4.0]}]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"results": [2.5, 4.0]}


# ----- errors ----------------------------------------------------------------------------
PREDICT = "/v1/models/digits:predict"
IMAGE = digit_images(1).tolist()


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        (PREDICT, "{bad json", 400, "JSON Parse error"),
        (PREDICT, "", 400, "JSON Parse error: The document is empty"),
        (PREDICT, "[1, 2]", 400, "Is not object"),
        (PREDICT, {"instances": IMAGE, "inputs": IMAGE}, 400,
         "expecting only one of 'inputs' or 'instances' keys to exist"),
        (PREDICT, {"signature_name": "serving_default"}, 400,
         "Missing 'inputs' or 'instances' key"),
        (PREDICT, {"instances": []}, 400, "No values in 'instances' array"),
        (PREDICT, {"instances": [[1.0, 2.0]]}, 400, "does not match the signature's shape"),
        (PREDICT, {"instances": [[["a"] * 8] * 8]}, 400,
         'JSON Value: "a" Type: String is not of expected type: float'),
        (PREDICT, {"instances": [[[1.0] * 8] * 8, [[1.0] * 7] * 8]}, 400,
         "Failed to process element: 1 of 'instances' list"),
        (PREDICT, {"inputs": [[[1.0] * 8] * 7 + [[1.0] * 3]]}, 400,
         "Encountered list at unexpected size: 3 at level: 2 expected size: 8"),
        (PREDICT, {"instances": [[[1e300] * 8] * 8]}, 400, "without loss of precision"),
        (PREDICT, {"signature_name": 7, "instances": IMAGE}, 400,
         "'signature_name' key must be a string value."),
        (PREDICT, {"signature_name": "nope", "instances": IMAGE}, 400,
         'Serving signature name: "nope" not found in signature def'),
        ("/v1/models/nope:predict", {"instances": IMAGE}, 404,
         "Servable not found for request: Latest(nope)"),
        ("/v1/models/digits/versions/9:predict", {"instances": IMAGE}, 404,
         "Servable not found for request: Specific(digits, 9)"),
        ("/v1/models/digits/labels/nope:predict", {"instances": IMAGE}, 400,
         "Unrecognized servable version label: nope"),
        ("/v1/models/multi:predict", {"instances": [[1.0, 2.0, 3.0]]}, 400,
         "instances is a plain list, but expecting list of objects"),
        ("/v1/models/multi:predict", {"inputs": {"x": [[1.0, 2.0, 3.0]], "n": [1]}}, 400,
         "Missing named input: s in 'inputs' object."),
        ("/v1/models/multi:predict", {"instances": [{"x": [1.0, 2.0, 3.0], "n": 1.5, "s": ""}]},
         400, "is not of expected type: int64"),
        ("/v1/models/multi:predict", {"instances": [{"x": [1.0, 2.0, 3.0], "n": 1,
                                                     "s": {"b64": "%%%"}}]},
         400, "Unable to base64 decode"),
        ("/v1/models/digits:classify", {"examples": [{"image": [1.0]}]}, 400,
         "Expected classification signature method_name to be tensorflow/serving/classify. "
         "Was: tensorflow/serving/predict"),
        ("/v1/models/digits:classify", {"signature_name": "classify"}, 400,
         "key 'examples' is expected and was not found"),
        ("/v1/models/digits:classify", {"signature_name": "classify",
                                        "examples": [{"image": [1.0, 2]}]}, 400,
         "Unexpected element type in feature: image expecting type: float"),
        ("/v1/models/digits:classify", {"signature_name": "classify",
                                        "examples": [{"image": [1.0] * 3}]}, 400,
         "image"),
        ("/v1/models/regress:regress", {"examples": [{"x": 1.0}]}, 400,
         "Expected regression signature method_name to be tensorflow/serving/regress"),
        ("/v1/models/digits:explain", {"instances": IMAGE}, 400, "Malformed request: POST"),
    ],
)
def test_bad_requests_get_tf_serving_errors(rest_url: str, path: str, body, status: int,
                                            message: str) -> None:
    resp = _post(rest_url + path, body)
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    assert message in resp.json()["error"]


@pytest.mark.parametrize(
    "path, status, message",
    [
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("/v1/models/digits/versions/5", 404, "Could not find version 5 of model digits"),
        ("/v1/models/digits/labels/nope", 400, "Unrecognized servable version label: nope"),
        ("/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
        ("/v1/models", 400, "Missing model name in request."),
        ("/v1/models/digits/versions/99999999999999999999", 400, "Failed to convert version"),
    ],
)
def test_bad_status_and_metadata_requests(rest_url: str, path: str, status: int,
                                          message: str) -> None:
    resp = requests.get(rest_url + path, timeout=10)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]


def test_request_size_limit(rest_url: str) -> None:
    big = b'{"instances": [' + b"0.0, " * 300_000 + b"0.0]}"  # ~1.5 MB > the 1 MiB limit
    resp = _post(rest_url + PREDICT, big)
    assert resp.status_code == 413
    assert "exceeds the limit of 1048576 bytes" in resp.json()["error"]
    # The server is still fine afterwards.
    assert _post(rest_url + PREDICT, {"instances": IMAGE}).status_code == 200


def test_unknown_path_is_404(rest_url: str) -> None:
    assert requests.get(rest_url + "/healthz", timeout=10).status_code == 404


def test_prometheus_metrics(rest_url: str) -> None:
    _post(rest_url + "/v1/models/digits/versions/1:predict", {"instances": IMAGE})
    _post(rest_url + "/v1/models/digits/versions/1:predict", {"instances": [[1.0]]})
    resp = requests.get(rest_url + "/monitoring/prometheus/metrics", timeout=10)
    assert resp.status_code == 200
    text = resp.text
    assert ('dlpipe_serving_requests_total{api="predict",model="digits",protocol="rest",'
            'version="1"}') in text
    assert ('dlpipe_serving_request_errors_total{api="predict",code="INVALID_ARGUMENT",'
            'model="digits",protocol="rest",version="1"}') in text
    assert 'dlpipe_serving_request_latency_seconds_bucket{api="predict",le="0.001"' in text
    assert ':tensorflow:serving:request_count_total{model_name="digits",status="OK"}' in text
