"""Batches formed and run on an event loop (``BatchScheduler.enqueue_on_loop``), as the REST
and gRPC servers queue batched predicts: same merging, padding, queue limit and cancelling
as the thread-run batches."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from serving.batching import BatchScheduler, outcome, wait_task
from serving.config import BatchingOptions
from serving.errors import Code, ServingError


class _Recorder:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, inputs):
        x = inputs["x"]
        self.sizes.append(x.shape[0])
        return {"y": x * 2}


def _run(coro):
    return asyncio.run(coro)


def test_tasks_queued_in_one_loop_iteration_run_as_one_padded_batch() -> None:
    run = _Recorder()
    scheduler = BatchScheduler(run, BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 8),
                                                    batch_timeout_micros=50_000))

    async def main():
        tasks = [scheduler.enqueue_on_loop({"x": np.full((1, 2), float(i))}) for i in range(3)]
        assert scheduler._queued_rows == 3
        assert all([await wait_task(t, 30) for t in tasks])
        return [outcome(t)["y"] for t in tasks]

    try:
        results = _run(main())
    finally:
        scheduler.close()
    assert run.sizes == [4]  # 3 rows padded to the allowed size 4, in one model run
    for i, y in enumerate(results):
        np.testing.assert_array_equal(y, np.full((1, 2), 2.0 * i))
    assert scheduler._queued_rows == 0


def test_a_full_batch_runs_at_once_and_the_rest_waits_for_the_next() -> None:
    run = _Recorder()
    scheduler = BatchScheduler(run, BatchingOptions(max_batch_size=4,
                                                    batch_timeout_micros=60_000_000))

    async def main():
        tasks = [scheduler.enqueue_on_loop({"x": np.ones((1, 1))}) for _ in range(4)]
        assert all([await wait_task(t, 30) for t in tasks])  # full: no 60 s wait
        late = scheduler.enqueue_on_loop({"x": np.ones((1, 1))})
        assert not await wait_task(late, 0.05)  # alone, it waits for the batch timeout
        assert scheduler.cancel_on_loop(late)
        assert scheduler._queued_rows == 0

    try:
        _run(main())
    finally:
        scheduler.close()
    assert run.sizes == [4]


def test_the_queue_limit_counts_loop_tasks() -> None:
    scheduler = BatchScheduler(_Recorder(), BatchingOptions(
        max_batch_size=2, max_enqueued_batches=1, batch_timeout_micros=60_000_000))

    async def main():
        first = scheduler.enqueue_on_loop({"x": np.zeros((1, 1))})
        with pytest.raises(ServingError) as err:
            scheduler.enqueue_on_loop({"x": np.zeros((2, 1))})
        assert err.value.code == Code.RESOURCE_EXHAUSTED
        assert scheduler.cancel_on_loop(first)

    try:
        _run(main())
    finally:
        scheduler.close()


def test_a_failing_batch_fails_each_of_its_tasks() -> None:
    def broken(inputs):
        raise ServingError(Code.INVALID_ARGUMENT, "bad batch")

    scheduler = BatchScheduler(broken, BatchingOptions(max_batch_size=4, batch_timeout_micros=0))

    async def main():
        tasks = [scheduler.enqueue_on_loop({"x": np.zeros((1, 1))}) for _ in range(2)]
        for t in tasks:
            assert await wait_task(t, 30)
            with pytest.raises(ServingError, match="bad batch"):
                outcome(t)

    try:
        _run(main())
    finally:
        scheduler.close()
