"""Server-side batching: the scheduler's rules, and identical answers with batching on/off."""

from __future__ import annotations

import concurrent.futures
import json
import threading

import numpy as np
import pytest
import requests

from serving.batching import BatchScheduler
from serving.config import BatchingOptions
from serving.errors import Code, ServingError, http_status
from tests.serving.conftest import digit_images


class _Recorder:
    """A run function that records batch sizes and can be held to fill the queue."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def __call__(self, inputs):
        self.entered.set()
        self.release.wait(30)
        x = inputs["x"]
        self.sizes.append(x.shape[0])
        return {"y": x * 2, "row": np.arange(x.shape[0])}


def test_concurrent_tasks_are_merged_and_split_back() -> None:
    run = _Recorder()
    run.release.clear()
    scheduler = BatchScheduler(run, BatchingOptions(max_batch_size=8, batch_timeout_micros=0,
                                                    num_batch_threads=1))
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            first = pool.submit(scheduler.submit, {"x": np.full((1, 2), -1.0)})
            assert run.entered.wait(10)  # the worker is busy with the first task
            futures = [pool.submit(scheduler.submit, {"x": np.full((2, 2), float(i))})
                       for i in range(3)]
            _wait_queued(scheduler, 6)
            run.release.set()
            results = [f.result(timeout=30) for f in futures]
            first.result(timeout=30)
        assert run.sizes == [1, 6]  # the three queued tasks ran as one batch of 6
        for i, r in enumerate(results):
            np.testing.assert_array_equal(r["y"], np.full((2, 2), 2.0 * i))
            assert r["row"].shape == (2,)
    finally:
        scheduler.close()


def _wait_queued(scheduler: BatchScheduler, rows: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while scheduler._queued_rows < rows:
        assert time.monotonic() < deadline, "tasks never queued"
        time.sleep(0.005)


def test_full_queue_is_resource_exhausted() -> None:
    run = _Recorder()
    run.release.clear()
    scheduler = BatchScheduler(run, BatchingOptions(max_batch_size=2, max_enqueued_batches=1,
                                                    batch_timeout_micros=0,
                                                    num_batch_threads=1))
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            running = pool.submit(scheduler.submit, {"x": np.zeros((1, 1))})
            assert run.entered.wait(10)
            queued = pool.submit(scheduler.submit, {"x": np.zeros((2, 1))})
            _wait_queued(scheduler, 2)
            with pytest.raises(ServingError) as err:
                scheduler.submit({"x": np.zeros((1, 1))})
            assert err.value.code == Code.RESOURCE_EXHAUSTED
            assert http_status(err.value.code) == 429
            assert "The batch scheduling queue to which this task was submitted is full" in str(
                err.value)
            run.release.set()
            running.result(timeout=30)
            queued.result(timeout=30)
    finally:
        scheduler.close()


def test_oversized_and_unbatchable_tasks_are_invalid() -> None:
    scheduler = BatchScheduler(_Recorder(), BatchingOptions(max_batch_size=4))
    try:
        with pytest.raises(ServingError, match="Task size 5 is larger than maximum input batch "
                                               "size 4"):
            scheduler.submit({"x": np.zeros((5, 1))})
        with pytest.raises(ServingError, match="must have equal 0th-dimension size"):
            scheduler.submit({"x": np.zeros((2, 1)), "z": np.zeros((3, 1))})
    finally:
        scheduler.close()


def test_batches_are_padded_to_allowed_sizes() -> None:
    run = _Recorder()
    scheduler = BatchScheduler(run, BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 8),
                                                    batch_timeout_micros=0))
    try:
        out = scheduler.submit({"x": np.ones((3, 2))})
        assert run.sizes == [4]
        np.testing.assert_array_equal(out["y"], np.full((3, 2), 2.0))
    finally:
        scheduler.close()


@pytest.fixture(scope="module")
def batching_server(serving_root):
    from serving.server import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(serving_root / "models.config"),
        poll_seconds=0,
        batching=BatchingOptions(max_batch_size=16, batch_timeout_micros=5000,
                                 num_batch_threads=2, allowed_batch_sizes=(4, 16)),
    )).start()
    yield srv
    srv.stop()


def test_batching_on_and_off_give_identical_answers(server, batching_server) -> None:
    from serving.client import GrpcClient

    requests_ = [digit_images(n, seed=100 + i) for i, n in enumerate([1, 3, 2, 1, 4, 1, 2, 5])]

    def ask(srv, images: np.ndarray, i: int):
        if i % 2:
            body = json.dumps({"instances": images.tolist()})
            resp = requests.post(f"http://127.0.0.1:{srv.rest_port}/v1/models/digits/versions/1"
                                 ":predict", data=body, timeout=30)
            assert resp.status_code == 200, resp.text
            preds = resp.json()["predictions"]
            return np.array([p["probabilities"] for p in preds]), [p["class_id"] for p in preds]
        client = GrpcClient("127.0.0.1", srv.grpc_port)
        try:
            out = client.predict("digits", {"image": images}, version=1)
        finally:
            client.close()
        return out["probabilities"], out["class_id"].tolist()

    answers = {}
    for name, srv in (("off", server), ("on", batching_server)):
        with concurrent.futures.ThreadPoolExecutor(len(requests_)) as pool:
            futures = [pool.submit(ask, srv, imgs, i) for i, imgs in enumerate(requests_)]
            answers[name] = [f.result(timeout=60) for f in futures]
    for (p_off, c_off), (p_on, c_on) in zip(answers["off"], answers["on"], strict=True):
        np.testing.assert_allclose(p_on, p_off, rtol=1e-5, atol=1e-7)
        assert c_on == c_off

    # Classify goes through the same scheduler.
    images = digit_images(3, seed=200)
    body = {"signature_name": "classify",
            "examples": [{"image": [float(v) for v in im.reshape(-1)]} for im in images]}
    results = [requests.post(f"http://127.0.0.1:{srv.rest_port}/v1/models/digits/versions/1"
                             ":classify", data=json.dumps(body), timeout=30).json()["results"]
               for srv in (server, batching_server)]
    np.testing.assert_allclose([[s for _, s in r] for r in results[0]],
                               [[s for _, s in r] for r in results[1]], rtol=1e-5, atol=1e-7)


def test_http_status_mapping_matches_tf_serving() -> None:
    expected = {
        Code.INVALID_ARGUMENT: 400, Code.FAILED_PRECONDITION: 400, Code.OUT_OF_RANGE: 400,
        Code.UNAUTHENTICATED: 401, Code.PERMISSION_DENIED: 403, Code.NOT_FOUND: 404,
        Code.ALREADY_EXISTS: 409, Code.ABORTED: 409, Code.RESOURCE_EXHAUSTED: 429,
        Code.CANCELLED: 499, Code.UNIMPLEMENTED: 501, Code.UNAVAILABLE: 503,
        Code.DEADLINE_EXCEEDED: 504, Code.INTERNAL: 500, Code.UNKNOWN: 500,
        Code.DATA_LOSS: 500,
    }
    assert {c: http_status(c) for c in expected} == expected
