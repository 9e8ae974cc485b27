"""An audio folder (one subfolder of WAV files per class) as a checked list of labelled clips.

Layouts:

- ``<root>/<class>/<clip>.wav``: ExampleGen splits the clips by hash, as TFX does;
- ``<root>/train/<class>/*.wav`` and ``<root>/eval/<class>/*.wav``: the splits are given
  (e.g. whole speakers held out for evaluation); both must name the same classes.

Labels are the indices of the sorted class folder names. Clips are decoded to float32 in
[-1, 1] (8-, 16-, 24-, 32-bit PCM or float WAV), mixed down to mono, resampled to the
configured rate (polyphase, ``scipy.signal.resample_poly``) and padded with silence at the
end or cut to the clip length. Every problem a user can fix (a missing folder, a class
folder without WAV files, a file that is not a readable WAV) is reported here, in one line
naming the folder or file, before any Beam work.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from dlpipe.errors import DlpipeError

AUDIO_SUFFIXES = (".wav",)
SPLITS = ("train", "eval")
"""The subfolders of a folder whose splits are given."""
_EXPECTED = ("Expected a directory with one subfolder per class holding WAV files (or train/ "
             "and eval/ subfolders, each with one subfolder per class)")


@dataclasses.dataclass(frozen=True)
class AudioFolder:
    """The checked contents of an audio folder."""

    root: Path
    labels: tuple[str, ...]
    """Class folder names, sorted; a label is an index into this."""
    files: tuple[tuple[str, int, str], ...]
    """(WAV path, label index, split: ``train``/``eval``, or empty when ExampleGen splits by
    hash), sorted by path."""
    rates: frozenset[int] = frozenset()
    """The sample rates the files have."""

    @property
    def split_given(self) -> bool:
        return bool(self.files) and bool(self.files[0][2])

    def counts(self) -> dict[str, int]:
        """Clips per class."""
        counts = dict.fromkeys(self.labels, 0)
        for _, label, _ in self.files:
            counts[self.labels[label]] += 1
        return counts


def _is_wav(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _read(path: Path) -> tuple[int, np.ndarray]:
    """(rate, samples [n] or [n, channels]) of a WAV file, as the file stores them."""
    import warnings

    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "chunk not understood": metadata chunks
            rate, data = wavfile.read(path)
    except Exception as e:  # ValueError, OSError from scipy alike
        raise DlpipeError(f"Cannot read WAV file {path}: {_first_line(e)}. Expected a PCM or "
                          f"float WAV file.") from None
    if data.size == 0:
        raise DlpipeError(f"WAV file {path} holds no samples. Expected a non-empty clip.")
    return int(rate), data


def _class_dirs(root: Path) -> list[Path]:
    stray = sorted(p.name for p in root.iterdir() if _is_wav(p))
    if stray:
        raise DlpipeError(
            f"Audio folder {root} holds WAV files directly ({', '.join(stray[:3])}"
            f"{', ...' if len(stray) > 3 else ''}). {_EXPECTED}: <folder>/<class>/<clip>.wav."
        )
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DlpipeError(f"Audio folder {root} has no class subfolders. {_EXPECTED}.")
    for class_dir in dirs:
        if not any(_is_wav(p) for p in class_dir.iterdir()):
            raise DlpipeError(f"Class folder {class_dir} holds no WAV files. {_EXPECTED}.")
    return dirs


def has_given_splits(root: str | Path) -> bool:
    """The folder holds ``train/`` and ``eval/`` subfolders (its splits are given)."""
    return all((Path(root) / s).is_dir() for s in SPLITS)


def scan_audio_folder(root: str | Path) -> AudioFolder:
    """Lists and checks the labelled WAV files under ``root`` (headers only).

    Raises:
      DlpipeError: naming the folder or file and what was expected.
    """
    root = Path(root)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a directory"
        raise DlpipeError(f"Audio folder {root} {what}. {_EXPECTED}.")
    if has_given_splits(root):
        per_split = {s: _class_dirs(root / s) for s in SPLITS}
        classes = {s: [d.name for d in dirs] for s, dirs in per_split.items()}
        if classes["train"] != classes["eval"]:
            raise DlpipeError(
                f"Audio folder {root} has train/ and eval/ with different classes "
                f"(train: {classes['train']}, eval: {classes['eval']}). Expected the same "
                f"class subfolders in both.")
        labels = classes["train"]
        files = [(str(p), labels.index(d.name), split) for split, dirs in per_split.items()
                 for d in dirs for p in sorted(d.iterdir()) if _is_wav(p)]
    else:
        dirs = _class_dirs(root)
        labels = [d.name for d in dirs]
        files = [(str(p), i, "") for i, d in enumerate(dirs)
                 for p in sorted(d.iterdir()) if _is_wav(p)]
    rates = frozenset(_read(Path(path))[0] for path, _, _ in files)
    return AudioFolder(root, tuple(labels), tuple(sorted(files)), rates)


def to_float(data: np.ndarray) -> np.ndarray:
    """WAV samples as float32 in [-1, 1]: integers by their type's full scale (8-bit WAV is
    unsigned), floats as they are."""
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    return data.astype(np.float32)


def load_clip(path: str, sample_rate: int, samples: int) -> np.ndarray:
    """One clip as float32 ``[samples]`` in [-1, 1] at ``sample_rate``: mono (the channels'
    mean), resampled, padded with zeros at the end or cut.

    Raises:
      DlpipeError: the file cannot be decoded.
    """
    from scipy.signal import resample_poly

    rate, data = _read(Path(path))
    wave = to_float(data)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    if rate != sample_rate:
        g = math.gcd(rate, sample_rate)
        wave = resample_poly(wave, sample_rate // g, rate // g).astype(np.float32)
    out = np.zeros(samples, np.float32)
    out[: min(samples, len(wave))] = wave[:samples]
    return out
