"""The same conformance checks against a real ``tensorflow_model_server``, when one exists.

TF Serving cannot be installed on dlpipe's machines (no binary in reachable registries, no
Docker engine), so these tests skip there; wherever the binary is on PATH they prove the
embedded server and TF Serving answer the same requests the same way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.serving.conftest import digit_images, free_port

BINARY = shutil.which("tensorflow_model_server")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="tensorflow_model_server is not on PATH (TF Serving cannot be "
    "installed on this machine); parity with TF Serving is checked where it is available"
)


@pytest.fixture(scope="module")
def tf_serving(serving_root: Path):
    grpc_port, rest_port = free_port(), free_port()
    proc = subprocess.Popen([BINARY, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                             f"--model_config_file={serving_root / 'models.config'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{rest_port}"
    for _ in range(600):
        try:
            if requests.get(f"{url}/v1/models/multi", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


CASES = [
    ("GET", "/v1/models/digits", None),
    ("GET", "/v1/models/digits/labels/stable", None),
    ("GET", "/v1/models/nope", None),
    ("POST", "/v1/models/digits/versions/1:predict", {"instances": digit_images(2).tolist()}),
    ("POST", "/v1/models/digits:predict", {"signature_name": "edge",
                                           "inputs": digit_images(1).tolist()}),
    ("POST", "/v1/models/multi:predict", {"instances": [{"x": [1.0, 2.0, 3.0], "n": 1,
                                                         "s": {"b64": "AAE="}}]}),
    ("POST", "/v1/models/regress:regress", {"signature_name": "regress",
                                            "examples": [{"x": 1.0}]}),
    ("POST", "/v1/models/digits:predict", {"instances": [[1.0]], "inputs": [[1.0]]}),
    ("POST", "/v1/models/digits/labels/nope:predict", {"instances": [[1.0]]}),
    ("POST", "/v1/models/nope:predict", {"instances": [[1.0]]}),
]


@pytest.mark.parametrize("method, path, body", CASES)
def test_same_status_and_body(tf_serving: str, rest_url: str, method: str, path: str,
                              body) -> None:
    data = None if body is None else json.dumps(body)
    ours = requests.request(method, rest_url + path, data=data, timeout=30)
    theirs = requests.request(method, tf_serving + path, data=data, timeout=30)
    assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
    a, b = ours.json(), theirs.json()
    if "error" in b:
        assert "error" in a
    else:
        _assert_close(a, b)


def _assert_close(a, b) -> None:
    if isinstance(b, dict):
        assert set(a) == set(b)
        for k in b:
            _assert_close(a[k], b[k])
    elif isinstance(b, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_close(x, y)
    elif isinstance(b, float):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    else:
        assert a == b
