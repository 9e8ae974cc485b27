"""Server-side dynamic batching with TF Serving's ``BatchingParameters`` semantics.

Concurrent requests to one signature of one model version are queued; ``num_batch_threads``
workers each take the oldest task, wait up to ``batch_timeout_micros`` (from that task's
arrival) for more compatible tasks up to ``max_batch_size`` rows, run the merged batch once
and split the outputs. ``max_enqueued_batches * max_batch_size`` queued rows is the queue
limit: past it a request fails at once with RESOURCE_EXHAUSTED (HTTP 429), like TF Serving.
A request waits for its batch no longer than its deadline: then it leaves the queue (a task
no worker has taken yet is never run) and fails with DEADLINE_EXCEEDED (HTTP 504).

Requests queued from an event loop (the REST and gRPC servers' batched predicts) are batched
by the same rules on that loop and their batch runs there (:meth:`BatchScheduler.
enqueue_on_loop`): under the GIL a hand-off to a batch thread and back costs more than the
batch's own Python work. The loop's other requests wait while a batch runs, which suits
models that answer a batch in milliseconds.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from serving import deadlines
from serving.config import BatchingOptions
from serving.errors import Code, ServingError, invalid_argument

log = logging.getLogger("dlpipe.serving.batching")

RunFn = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


class _Task:
    __slots__ = ("inputs", "size", "key", "arrived", "done", "result", "error", "callback")

    def __init__(self, inputs: Mapping[str, np.ndarray], size: int, key: tuple,
                 callback: Callable[[_Task], None] | None) -> None:
        self.inputs = inputs
        self.size = size
        self.key = key
        self.arrived = time.monotonic()
        self.done = threading.Event() if callback is None else None
        self.result: dict[str, np.ndarray] | None = None
        self.error: tuple[Code, str] | None = None
        self.callback = callback

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(self)
        else:
            self.done.set()


def batch_size_of(inputs: Mapping[str, np.ndarray]) -> int:
    """The shared 0th dimension of the inputs (TF Serving's batching rule)."""
    sizes = set()
    for name, v in inputs.items():
        if v.ndim == 0:
            raise invalid_argument(
                f"Batching session Run() must have batch dimension; input '{name}' is a scalar"
            )
        sizes.add(int(v.shape[0]))
    if len(sizes) != 1:
        raise invalid_argument(
            "Batching Run() input tensors must have equal 0th-dimension size. "
            f"Received sizes: {sorted(sizes)}"
        )
    return sizes.pop()


def _take_batch(queue: collections.deque, rows_by_key: dict, max_size: int
                ) -> tuple[list[_Task], collections.deque, int]:
    """Takes the head task's batch out of ``queue``: the queued tasks of its key, in order,
    while they fit ``max_size`` rows. Returns the batch, the queue left (in order) and the
    batch's rows; ``rows_by_key`` is updated."""
    first = queue[0]
    batch, kept, total = [], collections.deque(), 0
    while queue:
        t = queue.popleft()
        if t.key == first.key and total + t.size <= max_size:
            batch.append(t)
            total += t.size
        else:
            kept.append(t)
            if t.key == first.key:
                break  # the batch is full; the rest keeps its order
    kept.extend(queue)
    rows_by_key[first.key] -= total
    if not rows_by_key[first.key]:
        del rows_by_key[first.key]
    return batch, kept, total


class BatchScheduler:
    """Merges concurrent calls of ``run_fn`` into batches.

    ``num_batch_threads`` threads run batches. A thread that is free forms the next batch
    (only one forms at a time): it takes the oldest task and waits until the tasks of its
    kind fill ``max_batch_size`` rows or ``batch_timeout_micros`` have passed since that
    task arrived, then runs them as one batch, padded up to the next of
    ``allowed_batch_sizes`` (the last row repeated) as TF Serving does. While every thread
    is running a batch, new tasks wait in the queue, so the next batch is as large as the
    load allows when a thread is free again. Submitting costs one queue append; a forming
    thread is woken only by the first task or by a full batch.

    Args:
      run_fn: Runs one merged batch; maps input arrays to output arrays whose 0th
        dimension is the batch.
      options: TF Serving batching parameters.
      on_batch: Called with each merged batch size (metrics).
    """

    def __init__(
        self,
        run_fn: RunFn,
        options: BatchingOptions,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run_fn = run_fn
        self._options = options
        self._on_batch = on_batch
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._rows_by_key: dict[tuple, int] = collections.defaultdict(int)
        self._cond = threading.Condition()
        self._forming = threading.Lock()  # one thread forms a batch at a time
        self._closed = False
        self._capacity = options.max_enqueued_batches * options.max_batch_size
        self._loop_batchers: dict[Any, _LoopBatcher] = {}
        self._threads = [
            threading.Thread(target=self._worker, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for t in self._threads:
            t.start()

    def check(self, inputs: Mapping[str, np.ndarray]) -> tuple[int, tuple]:
        """The task size and kind of ``inputs``; raises what :meth:`submit` would."""
        size = batch_size_of(inputs)
        if size > self._options.max_batch_size:
            raise invalid_argument(
                f"Task size {size} is larger than maximum input batch size "
                f"{self._options.max_batch_size}"
            )
        key = tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))
        return size, key

    def enqueue(self, inputs: Mapping[str, np.ndarray],
                callback: Callable[[_Task], None] | None = None) -> _Task:
        """Queues a request without waiting for it.

        Args:
          inputs: The request's arrays (shared 0th dimension).
          callback: Called with the task on a batch thread once its ``result`` or
            ``error`` is set (None: the task's ``done`` event is set instead).

        Raises:
          ServingError: RESOURCE_EXHAUSTED when the queue is full, INVALID_ARGUMENT for a
            task larger than ``max_batch_size`` or without a shared batch dimension,
            UNAVAILABLE after close.
        """
        size, key = self.check(inputs)
        task = _Task(inputs, size, key, callback)
        with self._cond:
            self._admit(size)
            self._queue.append(task)
            rows = self._rows_by_key[key] = self._rows_by_key[key] + size
            if len(self._queue) == 1 or rows >= self._options.max_batch_size:
                self._cond.notify()
        return task

    def _admit(self, size: int) -> None:
        """Counts ``size`` more queued rows (call with ``_cond`` held), unless closed or the
        queue limit would be passed."""
        if self._closed:
            raise ServingError(Code.UNAVAILABLE, "Batch scheduler is shutting down")
        if self._queued_rows + size > self._capacity:
            raise ServingError(
                Code.RESOURCE_EXHAUSTED,
                "The batch scheduling queue to which this task was submitted is full",
            )
        self._queued_rows += size

    def cancel(self, task: _Task) -> bool:
        """Removes a task no thread has taken yet (it will never run); False if taken."""
        with self._cond:
            try:
                self._queue.remove(task)
            except ValueError:
                return False
            self._queued_rows -= task.size
            self._rows_by_key[task.key] -= task.size
            return True

    def submit(self, inputs: Mapping[str, np.ndarray], timeout: float | None = None) -> dict:
        """Queues a request and blocks until its slice of a batch result is ready.

        Args:
          inputs: The request's arrays (shared 0th dimension).
          timeout: Seconds to wait for the result; None: the current request's deadline
            (:mod:`serving.deadlines`), or no limit when it has none.

        Raises:
          ServingError: as :meth:`enqueue`, and DEADLINE_EXCEEDED on timeout.
        """
        if timeout is None:
            timeout = deadlines.remaining()
        task = self.enqueue(inputs)
        if not task.done.wait(None if timeout is None else max(0.0, timeout)):
            if self.cancel(task) or not task.done.is_set():
                raise deadlines.exceeded("waiting for the batch to run")
        return outcome(task)

    def close(self) -> None:
        """Stops the threads after the queued tasks have run (those queued from event
        loops run there, at their batch's time)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            loops = list(self._loop_batchers.values())
        for t in self._threads:
            t.join(timeout=30)
        deadline = time.monotonic() + 30
        for batcher in loops:
            while batcher.pending() and batcher.loop.is_running() \
                    and time.monotonic() < deadline:
                time.sleep(0.005)

    def enqueue_on_loop(self, inputs: Mapping[str, np.ndarray]) -> _Task:
        """Queues a request from the running event loop; its batch runs on that loop.

        Batches of tasks queued from an event loop are formed and run on the loop itself
        (the same rules: ``max_batch_size``, ``batch_timeout_micros`` from the oldest
        task, padding to ``allowed_batch_sizes``): no thread hand-off per request or per
        batch, which under the GIL costs more than the batch's own Python work. The model
        call releases the GIL while it computes. Await the task with :func:`wait_task`;
        the queue limit counts every queued task, from threads and loops alike.

        Raises:
          ServingError: as :meth:`enqueue`.
        """
        loop = asyncio.get_running_loop()
        batcher = self._loop_batchers.get(loop)
        if batcher is None:
            with self._cond:
                batcher = self._loop_batchers.setdefault(loop, _LoopBatcher(self, loop))
        return batcher.submit(inputs)

    def cancel_on_loop(self, task: _Task) -> bool:
        """:meth:`cancel` for a task queued by :meth:`enqueue_on_loop` (on that loop)."""
        batcher = self._loop_batchers.get(asyncio.get_running_loop())
        return batcher is not None and batcher.cancel(task)

    def _take_batch(self) -> list[_Task] | None:
        max_size = self._options.max_batch_size
        timeout = self._options.batch_timeout_micros / 1e6
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            first = self._queue[0]
            while True:
                remaining = first.arrived + timeout - time.monotonic()
                if (self._rows_by_key[first.key] >= max_size or remaining <= 0
                        or self._closed):
                    break
                self._cond.wait(remaining)
                if not self._queue:
                    return []  # every task was cancelled
                first = self._queue[0]  # the head may have been cancelled
            batch, self._queue, total = _take_batch(self._queue, self._rows_by_key, max_size)
            self._queued_rows -= total
            if self._queue:
                self._cond.notify()  # the next forming thread has work
            return batch

    def _padded_size(self, total: int) -> int:
        for s in self._options.allowed_batch_sizes:
            if s >= total:
                return s
        return total

    def _worker(self) -> None:
        while True:
            with self._forming:
                batch = self._take_batch()
            if batch is None:
                return
            if batch:
                self._run_batch(batch)

    def _merge(self, batch: list[_Task], total: int, padded: int) -> dict[str, np.ndarray]:
        """The batch's inputs copied into one buffer per input, padded to ``padded`` rows."""
        if len(batch) == 1 and padded == total:
            return dict(batch[0].inputs)
        merged: dict[str, Any] = {}
        for name, first in batch[0].inputs.items():
            buffer = np.empty((padded,) + first.shape[1:], dtype=first.dtype)
            offset = 0
            for t in batch:
                part = t.inputs[name]
                buffer[offset:offset + t.size] = part
                offset += t.size
            if padded > total:
                buffer[total:] = buffer[total - 1]
            merged[name] = buffer
        return merged

    def _run_batch(self, batch: list[_Task]) -> None:
        total = sum(t.size for t in batch)
        padded = self._padded_size(total)
        try:
            merged = self._merge(batch, total, padded)
            if self._on_batch:
                self._on_batch(total)
            outputs = self._run_fn(merged)
            for name, out in outputs.items():
                if out.ndim == 0 or out.shape[0] != padded:
                    raise ServingError(
                        Code.INTERNAL,
                        f"Batched output '{name}' has shape {list(out.shape)}; expected a 0th "
                        f"dimension of {padded} (the batch size)",
                    )
            offset = 0
            for t in batch:
                t.result = {k: v[offset:offset + t.size] for k, v in outputs.items()}
                offset += t.size
        except ServingError as e:  # every waiting request must be woken with the error
            for t in batch:
                t.error = (e.code, e.message)
        except BaseException as e:  # a bug: logged here, where its traceback is
            log.exception("Batched run failed")
            for t in batch:
                t.error = (Code.INTERNAL, f"Internal error: {e}")
        finally:
            for t in batch:
                t.inputs = {}  # the request's arrays are not needed any more
                try:
                    t.finish()
                except Exception:  # a waiter's callback must not stop the batch thread
                    log.exception("Batch completion callback failed")


class _LoopWaiter:
    """A loop task's callback: resolves its future (called on the loop that runs the batch)."""

    __slots__ = ("future",)

    def __init__(self, loop: Any) -> None:
        self.future = loop.create_future()

    def __call__(self, task: _Task) -> None:
        if not self.future.done():
            self.future.set_result(task)


class _LoopBatcher:
    """The tasks one event loop queued to a scheduler, batched and run on that loop."""

    def __init__(self, scheduler: BatchScheduler, loop: Any) -> None:
        self.scheduler = scheduler
        self.loop = loop
        self.queue: collections.deque[_Task] = collections.deque()
        self.rows_by_key: dict[tuple, int] = collections.defaultdict(int)
        self.handle: Any = None  # the scheduled flush
        self.flush_now = False

    def pending(self) -> int:
        return len(self.queue)

    def submit(self, inputs: Mapping[str, np.ndarray]) -> _Task:
        sched = self.scheduler
        size, key = sched.check(inputs)
        task = _Task(inputs, size, key, _LoopWaiter(self.loop))
        with sched._cond:
            sched._admit(size)
        self.queue.append(task)
        rows = self.rows_by_key[key] = self.rows_by_key[key] + size
        if rows >= sched._options.max_batch_size and not self.flush_now:
            if self.handle is not None:
                self.handle.cancel()
            self.handle = self.loop.call_soon(self.flush)
            self.flush_now = True
        elif self.handle is None:
            self._schedule()
        return task

    def _schedule(self) -> None:
        if not self.queue:
            return
        head = self.queue[0]
        options = self.scheduler._options
        if self.rows_by_key[head.key] >= options.max_batch_size or self.scheduler._closed:
            self.handle = self.loop.call_soon(self.flush)
            self.flush_now = True
        else:  # loop.time() is time.monotonic(), the tasks' clock
            self.handle = self.loop.call_at(head.arrived + options.batch_timeout_micros / 1e6,
                                            self.flush)
            self.flush_now = False

    def cancel(self, task: _Task) -> bool:
        try:
            self.queue.remove(task)
        except ValueError:
            return False
        self.rows_by_key[task.key] -= task.size
        with self.scheduler._cond:
            self.scheduler._queued_rows -= task.size
        if not self.queue and self.handle is not None:
            self.handle.cancel()
            self.handle = None
        return True

    def flush(self) -> None:
        """Runs the oldest task's batch (blocking the loop while the model runs)."""
        self.handle = None
        self.flush_now = False
        if not self.queue:
            return
        max_size = self.scheduler._options.max_batch_size
        batch, self.queue, total = _take_batch(self.queue, self.rows_by_key, max_size)
        with self.scheduler._cond:
            self.scheduler._queued_rows -= total
        try:
            self.scheduler._run_batch(batch)
        finally:
            self._schedule()


async def wait_task(task: _Task, timeout: float | None) -> bool:
    """Waits on its loop for a task queued by :meth:`BatchScheduler.enqueue_on_loop`;
    False when ``timeout`` seconds passed first (then cancel it)."""
    future = task.callback.future
    if timeout is None:
        await future
        return True
    timer = asyncio.get_running_loop().call_later(max(0.0, timeout), _expire, future)
    try:
        return await future is not _EXPIRED
    finally:
        timer.cancel()


_EXPIRED = object()


def _expire(future: Any) -> None:
    if not future.done():
        future.set_result(_EXPIRED)


def outcome(task: _Task) -> dict[str, np.ndarray]:
    """A finished task's outputs, or its error raised."""
    if task.error is not None:
        raise ServingError(*task.error)
    assert task.result is not None
    return task.result
