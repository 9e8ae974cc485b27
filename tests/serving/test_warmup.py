"""Warm-up and TF Serving's latency metrics.

The Pusher writes ``assets.extra/tf_serving_warmup_requests`` (TF Serving's format) into the
version it publishes; the server replays it before the version becomes AVAILABLE. The
replays are model runs, so they show in ``:tensorflow:serving:runtime_latency`` (as in TF
Serving) and not in ``:tensorflow:serving:request_latency``: the counts prove the order.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import grpc
import pytest
import requests

from tests.model_fixtures import publish_version
from tests.serving.conftest import digit_images

RUNTIME = ':tensorflow:serving:runtime_latency_count{API="Predict",model_name="digits",' \
          'runtime="tensorflow"}'


def _metric(server, line_start: str) -> float:
    for line in server.metrics.exposition().decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _warm_version(tmp_path: Path, source: Path, name: str) -> tuple[Path, int]:
    """A copy of ``source`` with the Pusher's warm-up file; returns it and its record count."""
    import shutil

    from components.pusher.warmup import write_warmup_requests
    from serving.core import WARMUP_FILE, read_tfrecords

    staged = tmp_path / name
    shutil.copytree(source, staged)
    assert write_warmup_requests(staged, model_name="digits") == staged / WARMUP_FILE
    return staged, len(list(read_tfrecords(staged / WARMUP_FILE, 1000)))


def test_the_pushers_warmup_file_is_tf_servings_format(tmp_path: Path, exports) -> None:
    from tensorflow_serving.apis import prediction_log_pb2

    from components.pusher.push import push_saved_model
    from components.pusher.warmup import write_warmup_requests
    from serving.core import WARMUP_FILE, read_tfrecords

    result = push_saved_model(
        exports["digits_a"], tmp_path / "serving" / "digits", "uri-a", {},
        prepare=lambda d: write_warmup_requests(d, model_name="digits"))
    records = [prediction_log_pb2.PredictionLog.FromString(r)
               for r in read_tfrecords(result.path / WARMUP_FILE, 1000)]
    signatures = {r.predict_log.request.model_spec.signature_name for r in records}
    # The predict signatures run on zeros; `classify` needs real tf.Examples, so it has none.
    assert signatures == {"serving_default", "edge"}
    for r in records:
        assert r.WhichOneof("log_type") == "predict_log"
        assert r.predict_log.request.model_spec.name == "digits"
        assert list(r.predict_log.request.inputs) == ["image"]
    # A file already there (the InfraValidator's, from real examples) is kept.
    before = (result.path / WARMUP_FILE).read_bytes()
    write_warmup_requests(result.path, model_name="other")
    assert (result.path / WARMUP_FILE).read_bytes() == before


@pytest.mark.parametrize("warmup", [True, False])
def test_warmup_requests_run_before_a_hot_swapped_version_is_available(
        tmp_path: Path, exports, warmup: bool) -> None:
    from serving.server import ModelServer, ServerOptions

    base = tmp_path / "digits"
    v1, _ = _warm_version(tmp_path, exports["digits_a"], "v1")
    v2, records = _warm_version(tmp_path, exports["digits_b"], "v2")
    publish_version(base, 1, v1)
    server = ModelServer(ServerOptions(grpc_port=0, rest_port=0, model_name="digits",
                                       model_base_path=str(base), poll_seconds=0.1,
                                       warmup=warmup)).start()
    try:
        assert _metric(server, RUNTIME) == (records if warmup else 0)
        before = _metric(server, RUNTIME)
        publish_version(base, 2, v2)
        deadline = time.monotonic() + 120
        while dict(server.core.version_status("digits")).get(2) is None or \
                dict(server.core.version_status("digits"))[2].state != "AVAILABLE":
            assert time.monotonic() < deadline, "version 2 never became AVAILABLE"
            time.sleep(0.01)
        # No request was sent: every run counted so far was a warm-up replay.
        assert _metric(server, RUNTIME) - before == (records if warmup else 0)
        assert _metric(server, ':tensorflow:serving:request_latency_count{API="Predict",'
                               'entrypoint="REST",model_name="digits"}') == 0
    finally:
        server.stop()


def test_tf_serving_latency_histograms(server, grpc_client) -> None:
    url = f"http://127.0.0.1:{server.rest_port}"
    resp = requests.post(f"{url}/v1/models/digits/versions/1:predict",
                         data=json.dumps({"instances": digit_images(1).tolist()}), timeout=30)
    assert resp.status_code == 200
    grpc_client.predict("digits", {"image": digit_images(1)})
    text = requests.get(f"{url}/monitoring/prometheus/metrics", timeout=30).text
    for entrypoint in ("REST", "GRPC"):
        count = re.search(r'^:tensorflow:serving:request_latency_count\{API="Predict",'
                          rf'entrypoint="{entrypoint}",model_name="digits"\}} (\S+)$', text, re.M)
        assert count and float(count[1]) >= 1, entrypoint
    # TF Serving's buckets: 10 us x 1.8^i; a request takes more than 10 us.
    assert re.search(r'^:tensorflow:serving:request_latency_bucket\{API="Predict",'
                     r'entrypoint="REST",le="10\.0",model_name="digits"\} 0\.0$', text, re.M)
    assert re.search(r'^:tensorflow:serving:request_latency_bucket\{API="Predict",'
                     r'entrypoint="REST",le="18\.0",model_name="digits"\}', text, re.M)
    assert re.search(r'^:tensorflow:serving:runtime_latency_count\{API="Predict",'
                     r'model_name="digits",runtime="tensorflow"\} (\S+)$', text, re.M)


def test_grpc_client_errors_do_not_count_as_runs(server) -> None:
    """A request rejected before the model (bad input) adds to the request count and the
    request latency, not to the runtime latency."""
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving import tensors

    runs = _metric(server, RUNTIME)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(digit_images(1)[:, :3]))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as err:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request,
                                                                               timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _metric(server, RUNTIME) == runs
