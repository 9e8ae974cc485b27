"""Pushing blessed edge models beside the served model, versioned the same way.

A push writes into a dot-prefixed temporary directory under ``<edge_root>/<model_name>/``
and renames it to ``<version>`` in one step, so a reader (an app store job, a sync to a
CDN) never sees a half-written version: the directory is either absent or complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from components.edge_export import formats as fmts
from components.edge_export import tflite_metadata
from components.edge_export.metadata import only_blessed


class EdgePushError(ValueError):
    """A push that cannot happen (the message says why)."""


@dataclasses.dataclass(frozen=True)
class EdgePushResult:
    """Where the edge models landed (``path`` None: nothing was blessed, nothing pushed)."""

    path: Path | None
    formats: tuple[str, ...]
    skipped: tuple[str, ...]


def push_edge_models(
    edge_models_dir: str | Path, edge_root: str | Path, model_name: str, version: int
) -> EdgePushResult:
    """Copies the blessed formats of an edge export to ``<edge_root>/<model_name>/<version>/``.

    Args:
      edge_models_dir: Output of the edge export (files, ``metadata.json``, ``labels.txt``).
      edge_root: Root of the edge models (beside the serving root).
      model_name: Name of the model (same as the served model's directory name).
      version: Version of the served model this edge export belongs to (its integer
        directory name under the serving root).

    Returns:
      The pushed directory and formats; formats not blessed are listed as skipped.

    Each pushed .tflite gets ``model_name`` and ``version`` in its TFLite metadata (the
    rest of the metadata, and the model, stay as exported); ``metadata.json`` records the
    pushed files' sizes and hashes.

    Raises:
      EdgePushError: Bad name/version, no metadata, or that version was already pushed.
    """
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise EdgePushError(f"version must be a non-negative integer. Received: {version!r}")
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise EdgePushError(
            f"model_name must be a plain directory name. Received: model_name={model_name!r}"
        )
    src = Path(edge_models_dir)
    meta_path = src / fmts.METADATA_FILE
    if not meta_path.is_file():
        raise EdgePushError(f"{str(src)!r} is not an edge export: no {fmts.METADATA_FILE} in it")
    metadata = json.loads(meta_path.read_text())
    blessed = only_blessed(metadata)
    pushed = tuple(blessed["formats"])
    skipped = tuple(f for f in metadata["formats"] if f not in blessed["formats"])
    if not pushed:
        return EdgePushResult(None, (), skipped)

    model_dir = Path(edge_root) / model_name
    final = model_dir / str(version)
    if final.exists():
        raise EdgePushError(
            f"edge version {str(final)!r} already exists; versions are immutable: push a "
            "new version"
        )
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".{version}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for fmt in pushed:
            entry = blessed["formats"][fmt]
            if entry["file"].endswith(".tflite") and entry.get("tflite_metadata"):
                # The metadata inside names the pushed model and version.
                data = tflite_metadata.set_name_and_version(
                    (src / entry["file"]).read_bytes(), model_name, str(version))
                (tmp / entry["file"]).write_bytes(data)
                entry["sha256"] = hashlib.sha256(data).hexdigest()
                entry["size_bytes"] = len(data)
            else:
                shutil.copy2(src / entry["file"], tmp)
        for sidecar in fmts.SIDECAR_FILES:
            if (src / sidecar).is_file():
                shutil.copy2(src / sidecar, tmp)
        blessed["model_name"] = model_name
        blessed["version"] = version
        (tmp / fmts.METADATA_FILE).write_text(json.dumps(blessed, indent=2) + "\n")
        _fsync_dir(tmp)
        os.rename(tmp, final)  # One atomic step on POSIX (same filesystem).
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(model_dir)
    return EdgePushResult(final, pushed, skipped)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
