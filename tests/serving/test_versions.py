"""Versions on disk: hot swap under load, half-written dirs, failed loads, policies, labels."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from serving.config import ServedModel
from serving.core import CoreOptions, ServerCore
from serving.errors import ServingError
from tests.model_fixtures import publish_version
from tests.serving.conftest import digit_images, saved_model_call

POLL = 0.1


def _wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}")
        time.sleep(0.02)


def _states(core: ServerCore, name: str) -> dict[int, str]:
    try:
        return {v: s.state for v, s in core.version_status(name)}
    except ServingError:
        return {}


def test_new_version_swaps_in_under_load_without_failures(tmp_path: Path, exports) -> None:
    from serving.client import GrpcClient
    from serving.server import ModelServer, ServerOptions

    base = tmp_path / "digits"
    publish_version(base, 1, exports["digits_a"])
    server = ModelServer(ServerOptions(grpc_port=0, rest_port=0, model_name="digits",
                                       model_base_path=str(base), poll_seconds=POLL)).start()
    image = digit_images(1, seed=11)
    want = {v: saved_model_call(exports[k], "edge", image=image)["probabilities"][0]
            for v, k in ((1, "digits_a"), (2, "digits_b"))}
    stop = threading.Event()
    failures: list[str] = []
    seen: list[set[int]] = [set() for _ in range(16)]
    counts = [0] * 16

    def which_version(probs: np.ndarray) -> int:
        for v, p in want.items():
            if np.allclose(probs, p, rtol=1e-5, atol=1e-7):
                return v
        raise AssertionError(f"answer matches no version: {probs}")

    def rest_client(i: int) -> None:
        session = requests.Session()
        body = json.dumps({"signature_name": "edge", "instances": image.tolist()})
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/digits:predict"
        while not stop.is_set():
            try:
                resp = session.post(url, data=body, timeout=30)
                if resp.status_code != 200:
                    failures.append(f"REST {resp.status_code}: {resp.text}")
                    continue
                seen[i].add(which_version(np.asarray(resp.json()["predictions"][0])))
                counts[i] += 1
            except Exception as e:  # any failure is a test failure
                failures.append(f"REST {e!r}")

    def grpc_client(i: int) -> None:
        client = GrpcClient("127.0.0.1", server.grpc_port)
        while not stop.is_set():
            try:
                out = client.predict("digits", {"image": image}, signature_name="edge")
                seen[i].add(which_version(out["probabilities"][0]))
                counts[i] += 1
            except Exception as e:  # any failure is a test failure
                failures.append(f"gRPC {e!r}")
        client.close()

    threads = [threading.Thread(target=rest_client if i % 2 else grpc_client, args=(i,))
               for i in range(16)]
    try:
        for t in threads:
            t.start()
        _wait_for(lambda: all(c >= 3 for c in counts), "every client to get answers")
        publish_version(base, 2, exports["digits_b"])  # atomic rename, as the pusher does
        _wait_for(lambda: _states(server.core, "digits").get(1) == "END", "version 1 unloaded")
        marks = list(counts)
        _wait_for(lambda: all(c >= m + 3 for c, m in zip(counts, marks, strict=True)),
                  "every client to get answers after the swap")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.stop()
    assert failures == []
    assert all(s == {1, 2} for s in seen), seen
    assert _states(server.core, "digits") == {1: "END", 2: "END"}  # all unloaded at shutdown


@pytest.fixture
def core(tmp_path: Path, exports):
    base = tmp_path / "digits"
    publish_version(base, 1, exports["digits_a"])
    core = ServerCore(CoreOptions(poll_seconds=POLL))
    core.set_models([ServedModel("digits", base_path=str(base))])
    core.start_polling()
    yield core, base
    core.stop()


def test_incomplete_and_temporary_dirs_are_never_loaded(core, exports) -> None:
    core, base = core
    (base / "3" / "variables").mkdir(parents=True)  # no saved_model.pb yet
    shutil.copytree(exports["digits_b"], base / ".tmp-4")  # complete, but not renamed
    shutil.copytree(exports["digits_b"], base / "5")
    growing = base / "5" / "variables" / "still_copying.bin"
    # Version 5 is being written: its listing changes between polls for a while.
    for _ in range(int(6 * POLL / 0.02)):
        with open(growing, "ab") as f:
            f.write(b"x" * 1024)
        assert set(_states(core, "digits")) == {1}, "a dir still being written was loaded"
        time.sleep(0.02)
    _wait_for(lambda: _states(core, "digits").get(5) == "AVAILABLE", "version 5 once stable")
    states = _states(core, "digits")
    assert 3 not in states and 4 not in states
    assert core.resolve("digits").version == 5


def test_failed_version_is_reported_and_previous_keeps_serving(core, exports) -> None:
    core, base = core
    broken = base / ".tmp-2"
    shutil.copytree(exports["digits_b"], broken)
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    broken.rename(base / "2")
    _wait_for(lambda: _states(core, "digits").get(2) == "END", "the failed load to be reported")
    status = dict(core.version_status("digits"))
    assert status[2].error is not None
    assert "Cannot parse the SavedModel" in status[2].error.message
    assert status[1].state == "AVAILABLE"
    assert core.resolve("digits").version == 1
    # Fixing the directory makes the poller retry it.
    shutil.copy(exports["digits_b"] / "saved_model.pb", base / "2" / "saved_model.pb")
    _wait_for(lambda: _states(core, "digits").get(2) == "AVAILABLE", "the fixed version")
    _wait_for(lambda: _states(core, "digits").get(1) == "END", "version 1 unloaded")


def test_version_policies_and_labels(tmp_path: Path, exports) -> None:
    base = tmp_path / "m"
    for v in (1, 2, 3):
        publish_version(base, v, exports["digits_a"] if v != 2 else exports["digits_b"])
    core = ServerCore(CoreOptions(poll_seconds=0))
    try:
        core.set_models([
            ServedModel("latest2", base_path=str(base), num_versions=2),
            ServedModel("all", base_path=str(base), version_policy="all"),
            ServedModel("specific", base_path=str(base), version_policy="specific",
                        versions=(1, 3, 9), labels={"stable": 1, "gone": 2}),
        ])
        available = {n: sorted(v for v, s in _states(core, n).items() if s == "AVAILABLE")
                     for n in ("latest2", "all", "specific")}
        assert available == {"latest2": [2, 3], "all": [1, 2, 3], "specific": [1, 3]}
        assert core.resolve("specific", label="stable").version == 1
        with pytest.raises(ServingError, match=r"Servable not found for request: "
                                               r"Specific\(specific, 2\)"):
            core.resolve("specific", label="gone")
        with pytest.raises(ServingError, match="Unrecognized servable version label: x"):
            core.resolve("specific", label="x")
        # Narrowing the policy unloads what falls out of it.
        core.set_models([ServedModel("all", base_path=str(base), num_versions=1)])
        assert core.model_names() == ["all"]
        assert _states(core, "all") == {1: "END", 2: "END", 3: "AVAILABLE"}
    finally:
        core.stop()


def test_missing_base_path_serves_nothing_until_a_version_appears(tmp_path: Path,
                                                                  exports) -> None:
    base = tmp_path / "later"
    core = ServerCore(CoreOptions(poll_seconds=POLL))
    try:
        core.set_models([ServedModel("later", base_path=str(base))])
        core.start_polling()
        with pytest.raises(ServingError, match="Could not find any versions of model later"):
            core.version_status("later")
        publish_version(base, 1, exports["digits_a"])
        _wait_for(lambda: _states(core, "later").get(1) == "AVAILABLE", "the first version")
    finally:
        core.stop()


def test_warmup_file_is_replayed_and_a_bad_one_fails_the_load(tmp_path: Path, exports) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from serving import tensors
    from serving.server import ModelServer, ServerOptions

    def write_warmup(version_dir: Path, signature: str) -> None:
        log = prediction_log_pb2.PredictionLog()
        request = log.predict_log.request
        request.model_spec.name = "digits"
        request.model_spec.signature_name = signature
        request.inputs["image"].CopyFrom(tensors.make_tensor_proto(digit_images(1)))
        path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
        path.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(path)) as w:
            w.write(log.SerializeToString())

    base = tmp_path / "digits"
    staged = tmp_path / "staged"
    shutil.copytree(exports["digits_a"], staged / "1")
    write_warmup(staged / "1", "serving_default")
    shutil.copytree(exports["digits_b"], staged / "2")
    write_warmup(staged / "2", "no_such_signature")
    base.mkdir()
    (staged / "1").rename(base / "1")
    (staged / "2").rename(base / "2")
    server = ModelServer(ServerOptions(grpc_port=0, rest_port=None, model_name="digits",
                                       model_base_path=str(base), poll_seconds=0))
    server.start()
    try:
        status = dict(server.core.version_status("digits"))
        # Latest-1 policy: version 2 is aspired, fails its warm-up, and 1 keeps serving.
        assert status[2].state == "END"
        assert 'Serving signature key "no_such_signature" not found' in status[2].error.message
        assert status[1].state == "AVAILABLE"
    finally:
        server.stop()
