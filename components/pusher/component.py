"""Pusher: TFX's Pusher component spec with dlpipe's executor (see push.py)."""

from tfx.components.pusher import component as tfx_pusher_component
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


class Pusher(tfx_pusher_component.Pusher):
    """Pushes a blessed model with consecutive integer versions and atomic writes."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
