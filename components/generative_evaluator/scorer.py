"""Finding the image classifier that scores a GAN's samples (no TensorFlow import)."""

from __future__ import annotations

from pathlib import Path

from dlpipe.contract import version_dirs
from dlpipe.errors import DlpipeError


def newest_version(base: Path) -> Path | None:
    """The highest numeric version directory of a served model that holds a SavedModel."""
    versions = sorted((v, p) for v, p in version_dirs(base).items()
                      if (p / "saved_model.pb").is_file())
    return versions[-1][1] if versions else None


def resolve_scorer(path: str | Path) -> Path:
    """The SavedModel directory of a scorer given as a version dir or a served model's base
    dir (its newest numeric version, as TF Serving would serve it).

    Raises:
      DlpipeError: one line naming the path and how to get a scorer there.
    """
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    version = newest_version(path)
    if version is not None:
        return version
    what = "does not exist" if not path.exists() else "holds no SavedModel version"
    raise DlpipeError(
        f"Scorer model {path} {what}: the GAN's samples are scored by the digits image "
        f"classifier. Run the digits_cnn pipeline first (dlpipe run --config "
        f"pipeline/configs/digits_cnn.yaml) with the same output_root, or set "
        f"evaluate.scorer_model to a served classifier."
    )
