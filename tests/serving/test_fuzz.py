"""Fuzz: >= 2,000 malformed REST requests and >= 2,000 malformed gRPC messages against
``dlpipe serve`` on loopback (batching on, every test model), from the recorded corpus and
seeded generators of ``fuzz_cases``.

Asserted: no 5xx, INTERNAL or UNKNOWN; every error has a message free of TensorFlow
internals; no request outlives its deadline; valid requests still answer correctly
afterwards; the server's RSS grows by less than 100 MB (printed). Larger runs:
``bench/fuzz.py``.
"""

from __future__ import annotations

import collections
import json
import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests

from tests.conftest import DLPIPE, REPO
from tests.serving import fuzz_cases
from tests.serving.conftest import digit_images, free_port, saved_model_call

SEED = 12
COUNT = 2_200  # of which at least 2,000 must be malformed (some mutations stay valid)
TIMEOUT_MS = 10_000  # the server's --rest_api_timeout_in_ms and the gRPC clients' deadline
GRACE = 10  # seconds past the deadline before a client calls it a hang


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture(scope="module")
def fuzzed_server(serving_root: Path):
    grpc_port, rest_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(DLPIPE), "serve", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={serving_root / 'models.config'}",
         "--file_system_poll_wait_seconds=0", "--enable_batching",
         f"--rest_api_timeout_in_ms={TIMEOUT_MS}", "--log_level=ERROR"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline()
    if "REST on" not in line:
        proc.kill()
        pytest.fail(f"dlpipe serve did not start: {line}")
    yield proc, f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
    proc.kill()
    proc.wait()


def _valid_requests_answer_correctly(rest: str, channel: grpc.Channel, exports) -> None:
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving import tensors

    images = digit_images(3, seed=99)
    want = saved_model_call(exports["digits_b"], "serving_default", image=images)
    resp = requests.post(f"{rest}/v1/models/digits:predict",
                         data=json.dumps({"instances": images.tolist()}), timeout=30)
    assert resp.status_code == 200, resp.text
    np.testing.assert_allclose([p["probabilities"] for p in resp.json()["predictions"]],
                               want["probabilities"], rtol=1e-5, atol=1e-7)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(images))
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
        request, timeout=30)
    np.testing.assert_allclose(tensors.make_ndarray(response.outputs["probabilities"]),
                               want["probabilities"], rtol=1e-6)


def test_malformed_requests_get_clear_4xx_answers_and_cost_no_memory(fuzzed_server,
                                                                     exports) -> None:
    proc, rest, target = fuzzed_server
    channel = grpc.insecure_channel(target)
    session = requests.Session()
    try:
        for _ in range(3):  # warm every path a valid request takes before measuring
            _valid_requests_answer_correctly(rest, channel, exports)
        rss_before = _rss_mb(proc.pid)
        failures: list[str] = []
        rest_status: collections.Counter = collections.Counter()
        for case in fuzz_cases.rest_cases(SEED, COUNT):
            try:
                status, message = fuzz_cases.send_rest(session, rest, case,
                                                       TIMEOUT_MS / 1000 + GRACE)
            except requests.Timeout:
                status, message = -1, "no answer"
                failures.append(f"REST hang past the deadline: {case.describe()}")
            except requests.ConnectionError:  # the server closed a malformed request
                session = requests.Session()
                status, message = 0, "connection closed"
            rest_status[status] += 1
            problem = fuzz_cases.check_rest(case, status, message)
            if problem:
                failures.append(f"REST {problem}: {message[:200]!r} <- {case.describe()}")
        grpc_status: collections.Counter = collections.Counter()
        for case in fuzz_cases.grpc_cases(SEED, COUNT):
            code, details = fuzz_cases.send_grpc(channel, case, TIMEOUT_MS / 1000 + GRACE)
            grpc_status[code] += 1
            problem = fuzz_cases.check_grpc(code, details)
            if problem:
                failures.append(f"gRPC {problem}: {details[:200]!r} <- {case.describe()}")
        assert proc.poll() is None, "the server died"
        _valid_requests_answer_correctly(rest, channel, exports)
        rss_after = _rss_mb(proc.pid)
    finally:
        channel.close()
    print(f"\nfuzz seed {SEED}: REST {dict(sorted(rest_status.items()))}; "
          f"gRPC {dict(sorted(grpc_status.items()))}; server RSS {rss_before:.0f} MB before, "
          f"{rss_after:.0f} MB after ({rss_after - rss_before:+.0f} MB)")
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:20])
    assert sum(n for s, n in rest_status.items() if s != 200) >= 2000
    assert sum(n for c, n in grpc_status.items() if c != "OK") >= 2000
    assert rss_after - rss_before < 100, (rss_before, rss_after)
