"""Where a config puts things: output root, pipeline root, metadata, serving, edge, input.

One place computes every derived location (``PipelineConfig``'s properties call these). Each
function takes the ``PipelineConfig`` (typed ``Config`` here, so that this module does not
import the schema that imports it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pipeline.ingest.kinds import KINDS, TFRECORD_PATTERN

Config = Any
"""A ``pipeline.config.schema.PipelineConfig``."""

SPAN_SPEC = "{SPAN}"
"""TFX's span placeholder in ImportExampleGen input patterns."""


def root(config: Config) -> Path:
    return Path(config.output_root).expanduser().resolve()


def metadata_path(config: Config) -> Path:
    if config.metadata.sqlite_path:
        return Path(config.metadata.sqlite_path).expanduser().resolve()
    return root(config) / "metadata" / f"{config.name}.sqlite"


def metadata_location(config: Config) -> str:
    m = config.metadata
    if m.store == "mysql":
        return f"mysql://{m.user}@{m.host}:{m.port}/{m.database}"
    return str(metadata_path(config))


def serving_root(config: Config) -> Path:
    if config.push.serving_root:
        return Path(config.push.serving_root).expanduser().resolve()
    return root(config) / "serving"


def edge_root(config: Config) -> Path:
    if config.edge.edge_root:
        return Path(config.edge.edge_root).expanduser().resolve()
    return root(config) / "edge"


def data_dir(config: Config) -> Path:
    if config.ingest.path:
        return split_span_pattern(config.ingest.path)[0]
    return root(config) / "data" / config.ingest.kind


def input_pattern(config: Config) -> str:
    kind = KINDS[config.ingest.kind]
    if kind.pattern != TFRECORD_PATTERN:
        return kind.pattern
    if config.ingest.path:
        return split_span_pattern(config.ingest.path)[1]
    return TFRECORD_PATTERN


def split_span_pattern(path: str) -> tuple[Path, str]:
    """Splits ``ingest.path`` into ImportExampleGen's input base and split pattern.

    ``/data/digits/span-{SPAN}`` gives (``/data/digits``, ``span-{SPAN}/*.tfrecord*``);
    ``/data/digits/span-{SPAN}/*.gz`` gives (``/data/digits``, ``span-{SPAN}/*.gz``); a plain
    directory gives (the directory, ``*.tfrecord*``).
    """
    parts = Path(path).expanduser().parts
    first = next((i for i, p in enumerate(parts) if "{" in p or "*" in p or "?" in p), None)
    if first is None:
        return Path(path).expanduser().resolve(), TFRECORD_PATTERN
    base = Path(*parts[:first]).resolve() if first else Path.cwd()
    rest = list(parts[first:])
    if not any(c in rest[-1] for c in "*?"):
        rest.append(TFRECORD_PATTERN)
    return base, "/".join(rest)


BOOT_COMMAND = "dlpipe-beam-boot"
"""Beam's SDK container contract in Python (``pipeline.beam.boot``), a console script."""


def environment_config(beam: Any) -> str:
    """``beam.environment_config`` as Beam takes it: for PROCESS, ``{"command": path}``
    (default: ``dlpipe-beam-boot`` beside this Python, where ``make setup`` installs it)."""
    if beam.environment_type != "PROCESS":
        return beam.environment_config
    value = beam.environment_config or str(Path(sys.executable).parent / BOOT_COMMAND)
    return value if value.lstrip().startswith("{") else json.dumps({"command": value})
