"""``dlpipe serve`` and ``dlpipe predict`` as users run them; graceful shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import requests

from pipeline import cli
from tests.conftest import DLPIPE, REPO
from tests.serving.conftest import digit_images, free_port, saved_model_call


@pytest.fixture(scope="module")
def served(serving_root: Path):
    """``dlpipe serve`` in a subprocess on free ports."""
    grpc_port, rest_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(DLPIPE), "serve", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={serving_root / 'models.config'}",
         "--file_system_poll_wait_seconds=1", "--log_level=WARNING"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()  # printed once the models are loaded and ports bound
    if "REST on" not in line:
        proc.kill()
        pytest.fail(f"dlpipe serve did not start: {line}{proc.stderr.read()}")
    assert f"gRPC on 127.0.0.1:{grpc_port}" in line and f"REST on 127.0.0.1:{rest_port}" in line
    yield proc, grpc_port, rest_port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _predict(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["predict", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("use_grpc", [False, True])
def test_predict_json_file(served, capsys, tmp_path: Path, exports, use_grpc: bool) -> None:
    _, grpc_port, rest_port = served
    images = digit_images(2, seed=21)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": images.tolist()}))
    port = grpc_port if use_grpc else rest_port
    args = ["--model", "digits", "--input", str(request), "--port", str(port), "--version", "1"]
    code, out, err = _predict(capsys, *args, *(["--grpc"] if use_grpc else []))
    assert code == 0, err
    answer = json.loads(out)
    probs = (answer["outputs"]["probabilities"] if use_grpc
             else [p["probabilities"] for p in answer["predictions"]])
    want = saved_model_call(exports["digits_a"], "serving_default", image=images)
    np.testing.assert_allclose(probs, want["probabilities"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("use_grpc", [False, True])
def test_predict_image_file(served, capsys, tmp_path: Path, exports, use_grpc: bool) -> None:
    from PIL import Image

    _, grpc_port, rest_port = served
    pixels = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(tmp_path / "digit.png")
    port = grpc_port if use_grpc else rest_port
    args = ["--model", "digits", "--input", str(tmp_path / "digit.png"), "--port", str(port),
            "--label", "stable", "--signature_name", "edge", *(["--grpc"] if use_grpc else [])]
    # This model has no predict_image signature: raw pixels need the data's white level.
    code, _, err = _predict(capsys, *args)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "has no 'predict_image' signature" in err and "--pixel_max" in err
    code, out, err = _predict(capsys, *args, "--pixel_max", "16")
    assert code == 0, err
    answer = json.loads(out)
    probs = answer["outputs"]["probabilities"] if use_grpc else answer["predictions"]
    image = (pixels.astype(np.float32) / 255.0 * 16.0)[None]
    want = saved_model_call(exports["digits_a"], "edge", image=image)["probabilities"]
    np.testing.assert_allclose(probs, want, rtol=1e-5, atol=1e-7)


def test_predict_classify_file_over_grpc(served, capsys, tmp_path: Path) -> None:
    _, grpc_port, _ = served
    request = tmp_path / "classify.json"
    request.write_text(json.dumps({"signature_name": "classify",
                                   "examples": [{"image": [1.0] * 64}]}))
    code, out, err = _predict(capsys, "--model", "digits", "--input", str(request), "--grpc",
                              "--port", str(grpc_port))
    assert code == 0, err
    classes = json.loads(out)["result"]["classifications"][0]["classes"]
    assert [c["label"] for c in classes] == [str(i) for i in range(10)]


def test_predict_errors_are_one_line(served, capsys, tmp_path: Path) -> None:
    _, _, rest_port = served
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [[1.0]]}))
    code, out, err = _predict(capsys, "--model", "nope", "--input", str(request),
                              "--port", str(rest_port))
    assert code == 1
    assert err.strip() == ("dlpipe predict: error: NOT_FOUND: Servable not found for request: "
                           "Latest(nope)")
    code, _, err = _predict(capsys, "--model", "digits", "--input", str(tmp_path / "missing"))
    assert code == 1 and "does not exist" in err and len(err.strip().splitlines()) == 1
    unreachable = free_port()
    code, _, err = _predict(capsys, "--model", "digits", "--input", str(request),
                            "--port", str(unreachable))
    assert code == 1 and "UNAVAILABLE: Cannot reach" in err


def test_serve_stops_on_sigterm(served) -> None:
    proc, _, rest_port = served
    assert requests.get(f"http://127.0.0.1:{rest_port}/v1/models/digits", timeout=10).ok
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "dlpipe serve: stopped" in out


def test_serve_config_errors_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(DLPIPE), "serve", f"--model_config_file={tmp_path / 'missing.config'}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "dlpipe serve: error: Cannot read model config file")


def test_graceful_shutdown_finishes_in_flight_requests(serving_root: Path) -> None:
    from serving.config import BatchingOptions
    from serving.server import ModelServer, ServerOptions

    # A 1 s batching window keeps the request in flight while the server is stopped.
    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(serving_root / "models.config"),
        poll_seconds=0, batching=BatchingOptions(max_batch_size=64,
                                                 batch_timeout_micros=1_000_000),
    )).start()
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/digits/versions/1:predict"
    result: dict = {}

    def call() -> None:
        resp = requests.post(url, data=json.dumps({"instances": digit_images(1).tolist()}),
                             timeout=30)
        result["status"] = resp.status_code

    t = threading.Thread(target=call)
    t.start()
    scheduler = server.core.resolve("digits", 1)._schedulers["serving_default"]
    deadline = threading.Event()
    for _ in range(500):
        if scheduler._queued_rows:
            break
        deadline.wait(0.01)
    assert scheduler._queued_rows == 1, "the request never reached the batch queue"
    server.stop(grace=10)
    t.join(timeout=30)
    assert result == {"status": 200}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.rest_port}/v1/models/digits", timeout=5)
