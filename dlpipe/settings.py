"""Typed settings: dataclass fields that carry their help text and constraints.

Every config section (``pipeline.config``) and the task spec (``models.tasks.spec``) declare
their fields with ``setting``; the config loader reads the metadata to check values at load
time (choices, bounds) and ``dlpipe config --keys`` prints the help.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(default: Any, help: str, **constraints: Any) -> Any:
    """A dataclass field with help text and constraints.

    Args:
      default: The default value (ignored when ``default_factory`` is given).
      help: One or two sentences for ``dlpipe config --keys``.
      **constraints: ``choices`` (allowed values), ``minimum`` / ``maximum`` (bounds),
        ``exclusive`` (the minimum itself is not allowed), ``default_factory``.
    """
    factory = constraints.pop("default_factory", None)
    meta = {"help": help, **constraints}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)
