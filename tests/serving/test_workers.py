"""``dlpipe serve --num_workers=2``: two processes behind the same ports behave as one server.

Every check opens new connections, which the kernel spreads over the workers
(SO_REUSEPORT), so a worker that lags behind the other would answer some of them wrongly.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests

from tests.conftest import DLPIPE, REPO
from tests.model_fixtures import publish_version
from tests.serving.conftest import digit_images, free_port

CONNECTIONS = 24  # new connections per check: all land on one worker with p = 2**-23


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, exports):
    root = tmp_path_factory.mktemp("pool")
    base = root / "digits"
    publish_version(base, 1, exports["digits_a"])
    grpc_port, rest_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(DLPIPE), "serve", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         "--model_name=digits", f"--model_base_path={base}", "--num_workers=2",
         "--file_system_poll_wait_seconds=0.2", "--enable_batching",
         "--enable_reload_config_api", "--log_level=WARNING"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    if "REST on" not in line:
        proc.kill()
        pytest.fail(f"dlpipe serve did not start: {line}{proc.stderr.read()}")
    yield proc, base, grpc_port, f"http://127.0.0.1:{rest_port}"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)


def _predict(url: str, path: str) -> requests.Response:
    body = json.dumps({"instances": digit_images(1).tolist()})
    with requests.Session() as s:  # a new connection each time
        return s.post(f"{url}{path}", data=body, timeout=30)


def _requests_counted(url: str) -> float:
    text = requests.get(f"{url}/monitoring/prometheus/metrics", timeout=30).text
    return sum(float(m[1]) for m in re.finditer(
        r'^dlpipe_serving_requests_total\{[^}]*api="predict"[^}]*\} (\S+)$', text, re.M))


def test_two_workers_share_the_ports_and_their_metrics_add_up(pool) -> None:
    proc, _, _, url = pool
    assert len(_children(proc.pid)) == 1  # the second worker
    before = _requests_counted(url)
    answers = [_predict(url, "/v1/models/digits:predict") for _ in range(CONNECTIONS)]
    assert [a.status_code for a in answers] == [200] * CONNECTIONS
    # Whichever worker answers the metrics page counts every worker's requests.
    assert _requests_counted(url) - before == CONNECTIONS
    worker_lines = re.findall(r'^:tensorflow:serving:request_latency_count\{[^}]*'
                              r'entrypoint="REST"[^}]*\} (\S+)$',
                              requests.get(f"{url}/monitoring/prometheus/metrics",
                                           timeout=30).text, re.M)
    assert worker_lines and float(worker_lines[0]) >= CONNECTIONS


def test_a_version_reported_available_is_served_by_every_worker(pool, exports) -> None:
    _, base, _, url = pool
    publish_version(base, 2, exports["digits_b"])
    for _ in range(600):
        status = requests.get(f"{url}/v1/models/digits/versions/2", timeout=30)
        if status.ok and status.json()["model_version_status"][0]["state"] == "AVAILABLE":
            break
        time.sleep(0.05)
    else:
        pytest.fail("version 2 never became AVAILABLE")
    answers = [_predict(url, "/v1/models/digits/versions/2:predict")
               for _ in range(CONNECTIONS)]
    assert [a.status_code for a in answers] == [200] * CONNECTIONS, answers[0].text


def test_a_config_reload_is_in_force_in_every_worker_when_answered(pool) -> None:
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
    from tensorflow_serving.config import model_server_config_pb2

    _, base, grpc_port, url = pool
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add()
    entry.name, entry.base_path, entry.model_platform = "digits", str(base), "tensorflow"
    entry.model_version_policy.all.SetInParent()
    entry.version_labels["stable"] = 1
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        response = stub.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=120)
    assert response.status.error_code == 0
    answers = [_predict(url, "/v1/models/digits/labels/stable:predict")
               for _ in range(CONNECTIONS)]
    assert [a.status_code for a in answers] == [200] * CONNECTIONS, answers[0].text
    probs = np.array([a.json()["predictions"][0]["probabilities"] for a in answers])
    np.testing.assert_allclose(probs, np.repeat(probs[:1], CONNECTIONS, axis=0), rtol=1e-6)


def test_the_workers_stop_with_the_server(pool) -> None:
    proc, *_ = pool
    children = _children(proc.pid)
    proc.terminate()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "dlpipe serve: stopped" in out
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status").read_text().lower()


def test_a_worker_holds_a_new_version_back_until_the_others_have_it(tmp_path: Path,
                                                                      exports) -> None:
    """Two model managers with one barrier, as two workers have: the one that polls first
    neither routes to nor reports the new version before the other has loaded it."""
    import threading

    from serving.config import ServedModel
    from serving.core import CoreOptions, ServerCore
    from serving.errors import ServingError
    from serving.workers import VersionBarrier

    base = tmp_path / "digits"
    publish_version(base, 1, exports["digits_a"])
    marks = tmp_path / "versions"
    cores = [ServerCore(CoreOptions(poll_seconds=0,
                                    publish_barrier=VersionBarrier(marks, i, 2, timeout=60)))
             for i in range(2)]
    config = [ServedModel("digits", base_path=str(base))]
    starts = [threading.Thread(target=c.set_models, args=(config,)) for c in cores]
    for t in starts:
        t.start()
    for t in starts:
        t.join(timeout=120)
    try:
        publish_version(base, 2, exports["digits_b"])
        first = threading.Thread(target=cores[0].poll_once, kwargs={"initial": True})
        first.start()
        waited = 0
        while not list(marks.glob("digits/2-*/loaded-0")):  # worker 0 waits at the barrier
            assert waited < 6000, "worker 0 never loaded version 2"
            time.sleep(0.01)
            waited += 1
        assert dict(cores[0].version_status("digits"))[2].state == "LOADING"
        with pytest.raises(ServingError, match="Servable not found"):
            cores[0].resolve("digits", 2)
        assert cores[0].resolve("digits").version == 1  # latest is still version 1
        cores[1].poll_once(initial=True)
        first.join(timeout=120)
        for core in cores:
            assert dict(core.version_status("digits"))[2].state == "AVAILABLE"
            assert core.resolve("digits").version == 2
    finally:
        for core in cores:
            core.stop()


def test_a_bad_option_is_refused_before_any_worker_starts(tmp_path: Path, exports) -> None:
    base = tmp_path / "digits"
    publish_version(base, 1, exports["digits_a"])
    proc = subprocess.run(
        [str(DLPIPE), "serve", f"--port={free_port()}", f"--rest_api_port={free_port()}",
         "--model_name=digits", f"--model_base_path={base}", "--num_workers=2",
         "--rest_api_timeout_in_ms=0"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0
    assert "rest_timeout_ms must be > 0. Received: rest_timeout_ms=0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "worker" not in proc.stderr.lower(), proc.stderr  # refused once, by the parent
