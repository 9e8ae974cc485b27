"""Pushing a SavedModel into TF Serving's layout: ``<base>/<model_name>/<version>/``.

A version directory appears under its final name only when complete (copy into a
dot-prefixed temp dir, then one ``rename``), so a model server polling the directory
never loads a half-written model. Versions are consecutive integers. Pushing the model
that already is the latest version does nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from dlpipe.contract import version_dirs

PUSH_RECORD = Path("assets.extra") / "dlpipe_push.json"
"""Provenance of a pushed version, inside it (TF Serving ignores unknown assets.extra files)."""

TMP_PREFIX = ".tmp-"
LOCK_FILE = ".dlpipe-push.lock"


@dataclasses.dataclass(frozen=True)
class PushResult:
    pushed: bool
    version: int
    path: Path
    reason: str


def versions(base_dir: Path) -> list[int]:
    """Integer version directories under ``base_dir``, ascending."""
    return sorted(version_dirs(base_dir))


def read_push_record(version_dir: Path) -> dict:
    path = version_dir / PUSH_RECORD
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def _locked(base_dir: Path):
    with open(base_dir / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def push_saved_model(
    model_dir: Path, base_dir: Path, model_id: str, provenance: dict,
    prepare: Callable[[Path], object] | None = None,
) -> PushResult:
    """Copies ``model_dir`` to the next integer version under ``base_dir``, atomically.

    Args:
      model_dir: The SavedModel to push (must hold saved_model.pb).
      base_dir: ``<serving_root>/<model_name>``.
      model_id: Identity of the model (its MLMD artifact URI); when the latest version
        came from the same model, nothing is pushed.
      provenance: Extra facts recorded in the version's ``assets.extra/dlpipe_push.json``.
      prepare: Called with the copied version directory before it is published under
        its final name (e.g. to add TF Serving's warm-up file).

    Returns:
      What happened: pushed or not, the version, its path, and why.
    """
    model_dir, base_dir = Path(model_dir), Path(base_dir)
    if not (model_dir / "saved_model.pb").is_file():
        raise ValueError(f"Not a SavedModel (no saved_model.pb): {model_dir}")
    base_dir.mkdir(parents=True, exist_ok=True)
    with _locked(base_dir):
        # Leftovers of a push that was killed mid-copy: never loadable, safe to drop now
        # that we hold the lock.
        for stale in base_dir.glob(TMP_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        existing = versions(base_dir)
        if existing:
            latest = base_dir / str(existing[-1])
            if read_push_record(latest).get("model_id") == model_id:
                return PushResult(
                    False,
                    existing[-1],
                    latest,
                    f"this model is already serving as version {existing[-1]}",
                )
        version = existing[-1] + 1 if existing else 1
        target = base_dir / str(version)
        tmp = base_dir / f"{TMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copytree(model_dir, tmp)
            if prepare is not None:
                prepare(tmp)
            record = {
                "model_id": model_id,
                "version": version,
                "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **provenance,
            }
            (tmp / PUSH_RECORD).parent.mkdir(exist_ok=True)
            (tmp / PUSH_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True))
            os.rename(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return PushResult(True, version, target, f"pushed as version {version}")
