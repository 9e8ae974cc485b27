"""Per-request deadlines: every request gets one, and long waits give up when it passes.

REST requests get ``--rest_api_timeout_in_ms`` (TF Serving's flag, default 30 s); gRPC
requests get the client's deadline, or ``--grpc_default_timeout_in_ms`` when the client set
none. The deadline is held in a context variable of the thread working on the request, so
the stages that can wait (the batch queue) or cost much (JSON decoding, the model run) check
it without every function passing it along.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

from serving.errors import Code, ServingError

_DEADLINE: contextvars.ContextVar[tuple[float, str] | None] = contextvars.ContextVar(
    "dlpipe_serving_deadline", default=None
)


@contextlib.contextmanager
def deadline(seconds: float | None, source: str) -> Iterator[None]:
    """Sets the current request's deadline ``seconds`` from now (None: no deadline).

    Args:
      seconds: Time the request may take.
      source: What set it, named in the error (e.g. ``--rest_api_timeout_in_ms=30000``).
    """
    token = _DEADLINE.set(None if seconds is None else (time.monotonic() + seconds, source))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current request's deadline (None: no deadline)."""
    current = _DEADLINE.get()
    return None if current is None else current[0] - time.monotonic()


def exceeded(stage: str) -> ServingError:
    """The DEADLINE_EXCEEDED error (HTTP 504) for a request that ran out of time."""
    current = _DEADLINE.get()
    source = f" ({current[1]})" if current else ""
    return ServingError(Code.DEADLINE_EXCEEDED,
                        f"Deadline exceeded{source} while {stage}; the request was dropped")


def check(stage: str) -> None:
    """Raises DEADLINE_EXCEEDED if the current request's deadline has passed.

    Args:
      stage: What the server was about to do, for the message ("running the model").
    """
    left = remaining()
    if left is not None and left <= 0:
        raise exceeded(stage)
