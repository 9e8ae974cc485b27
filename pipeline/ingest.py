"""Ingest sources: prepare and check the configured input before the pipeline starts.

``sklearn_digits`` is written here as tf.Example TFRecords, which ImportExampleGen reads like
any ``tfrecord`` directory; ``image_folder`` and ``tfds`` have ExampleGens of their own
(components/). ``check_source`` checks every kind first, so a missing or empty directory, a
corrupt record, a dataset TFDS cannot provide or images that do not fit the task are
reported in one line instead of deep inside a Beam job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dlpipe.errors import DlpipeError
from dlpipe.examples import compression, read_records, write_records
from dlpipe.files import atomic_path

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig

DIGITS_FILE = "digits.tfrecord.gz"
INPUT_PATTERN = "*.tfrecord*"
"""Files ImportExampleGen reads from the input directory (plain or gzipped TFRecords)."""
CSV_PATTERN = "*.csv"
"""Files CsvExampleGen reads from the input directory."""
CSV_KINDS = ("csv", "palmerpenguins", "imdb_sample")
"""Ingest kinds read by TFX's CsvExampleGen (the last two write bundled data as CSV first)."""
PENGUINS_FILE = "penguins.csv"
IMDB_FILE = "imdb_sample.csv"


def image_example(pixels: Sequence[float], label: int, image_key: str, label_key: str
                  ) -> bytes:
    """Serializes one image as a tf.Example: a flat float feature and an int64 label."""
    import tensorflow as tf

    feature = {
        image_key: tf.train.Feature(float_list=tf.train.FloatList(value=list(pixels))),
        label_key: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecords(path: Path, records: Iterable[bytes]) -> int:
    """Writes serialized records to a gzipped TFRecord file whole; returns the count."""
    return write_records(path, records)


def write_sklearn_digits(out_dir: Path) -> Path:
    """Writes scikit-learn's 1,797 8x8 digits as tf.Examples into ``out_dir``.

    Existing output is kept as it is (same bytes, same file), so ExampleGen's input
    fingerprint does not change and a re-run reuses cached executions.
    """
    from sklearn.datasets import load_digits

    from models.digits import features

    path = out_dir / DIGITS_FILE
    if path.exists():
        return path
    digits = load_digits()
    records = (
        image_example(image.reshape(-1), label, features.IMAGE_KEY, features.LABEL_KEY)
        for image, label in zip(digits.images, digits.target, strict=True)
    )
    write_tfrecords(path, records)
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Writes a CSV file atomically (complete under its final name, or absent); returns rows."""
    import csv

    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_palmerpenguins(out_dir: Path) -> Path:
    """Writes the Palmer penguins (``palmerpenguins`` package, 344 rows) as a CSV.

    Kept as the package has them, raw: missing measurements and sexes ("NA" in the package)
    become empty fields, which CsvExampleGen reads as missing values for Transform to impute.
    The one change: ``species`` is written as the class index of the task's ``CLASS_NAMES``
    (TFMA and the Keras loss need integer labels), as TFX's own penguin example does.
    Existing output is kept, so a re-run reuses cached executions.
    """
    import csv
    from importlib import resources

    from models.penguins import features

    path = out_dir / PENGUINS_FILE
    if path.exists():
        return path
    source = resources.files("palmerpenguins") / "data" / "penguins.csv"
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [
            [features.CLASS_NAMES.index(row[c]) if c == features.LABEL_KEY
             else ("" if row[c] == "NA" else row[c]) for c in features.CSV_COLUMNS]
            for row in reader
        ]
    write_csv(path, features.CSV_COLUMNS, rows)
    return path


def write_imdb_sample(out_dir: Path) -> Path:
    """Copies the 100 labelled IMDB reviews bundled in the tfx wheel (``label,text``)."""
    import shutil
    from importlib import resources

    path = out_dir / IMDB_FILE
    if path.exists():
        return path
    source = resources.files("tfx") / "examples" / "imdb" / "data" / "imdb_small_with_labels.txt"
    with atomic_path(path) as tmp, source.open("rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


BUNDLED_WRITERS = {
    "sklearn_digits": write_sklearn_digits,
    "palmerpenguins": write_palmerpenguins,
    "imdb_sample": write_imdb_sample,
}
"""Ingest kinds whose data ships inside installed packages, and the function writing it."""


def check_csv_source(config: PipelineConfig) -> int:
    """Checks CSV input against the task: label and feature columns present, rows complete.

    Returns:
      The number of data rows.
    """
    from components.csv_checks import check_csv

    task = config.task_facts()
    kind = config.ingest.kind
    if kind in BUNDLED_WRITERS:
        BUNDLED_WRITERS[kind](config.data_dir)
    if getattr(task, "IMAGE_KEY", None) and not getattr(task, "FEATURE_KEYS", ()):
        raise DlpipeError(
            f"ingest.kind={kind!r} provides CSV rows, but task {config.task} reads images "
            f"(feature {task.IMAGE_KEY!r}). Expected a task that declares its CSV columns "
            f"(FEATURE_KEYS), or an image ingest kind."
        )
    summary = check_csv(config.data_dir, task.LABEL_KEY,
                        getattr(task, "FEATURE_KEYS", ()), pattern=CSV_PATTERN)
    return summary.rows


def input_files(data_dir: Path) -> list[Path]:
    """The TFRecord files ExampleGen will read from ``data_dir``."""
    return sorted(p for p in data_dir.glob(INPUT_PATTERN) if p.is_file())


INPUT_CHECKS_FILE = "input_checks.json"
"""Under the output root: files already checked, by path, size and mtime, with their counts."""


def _load_checks(cache: Path | None) -> dict:
    import json

    try:
        return json.loads(cache.read_text()) if cache else {}
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only means checking again


def _save_checks(cache: Path | None, checks: dict) -> None:
    import json

    if cache is None:
        return
    with atomic_path(cache) as tmp:
        Path(tmp).write_text(json.dumps(checks))


def check_tfrecords(files: Sequence[Path], cache: Path | None = None) -> int:
    """Reads every record of ``files`` and parses it as a tf.Example.

    Args:
      files: TFRecord files (``.gz``: GZIP).
      cache: A JSON file remembering files that passed, by path, size and modification
        time: an unchanged file is not read again on the next run. None: read all.

    Returns:
      The number of records.

    Raises:
      DlpipeError: naming the file and the record index of the first corrupt record.
    """
    import tensorflow as tf

    checks = _load_checks(cache)
    total = 0
    for path in files:
        stat = path.stat()
        key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
        if key in checks and checks[key][:2] == stamp:
            total += checks[key][2]
            continue
        gzip = bool(compression(path))
        index = 0
        try:
            for record in read_records([path]):
                tf.train.Example.FromString(record)
                index += 1
        except Exception as e:  # DataLossError, DecodeError: both mean a bad file
            cause = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DlpipeError(
                f"Corrupt record in {path} at record {index}: {cause}. Expected TFRecord files "
                f"of serialized tf.Example ({'gzip' if gzip else 'uncompressed'}, "
                f"by file name)."
            ) from None
        total += index
        checks[key] = [*stamp, index]
    _save_checks(cache, checks)
    return total


def prepare_input(kind: str, data_dir: Path, cache: Path | None = None) -> tuple[Path, int]:
    """Makes ``data_dir`` hold the examples of the configured source and checks them.

    Args:
      kind: ``ingest.kind`` from the config.
      data_dir: The input directory (``PipelineConfig.data_dir``).
      cache: Remembers checked files (see ``check_tfrecords``).

    Returns:
      The directory and its number of examples.

    Raises:
      DlpipeError: if the directory is missing, empty or holds a corrupt record.
    """
    if kind in BUNDLED_WRITERS:
        BUNDLED_WRITERS[kind](data_dir)
    if not data_dir.is_dir():
        raise DlpipeError(
            f"Input directory {data_dir} does not exist. Expected a directory of "
            f"{INPUT_PATTERN} files (set ingest.path)."
        )
    files = input_files(data_dir)
    if not files:
        raise DlpipeError(
            f"Input directory {data_dir} holds no {INPUT_PATTERN} files. Expected TFRecord "
            f"files of serialized tf.Example."
        )
    count = check_tfrecords(files, cache)
    if count == 0:
        raise DlpipeError(f"Input directory {data_dir} holds TFRecord files with no records.")
    return data_dir, count


TFDS_SPLITS = {"train": "train", "test": "eval"}
"""TFDS split -> pipeline split, for ingest.kind 'tfds'."""


def image_shape(config: PipelineConfig) -> tuple[int, int, int]:
    """(height, width, channels) of an image-folder ingest: configured, or the task's."""
    if config.ingest.image_shape:
        return tuple(config.ingest.image_shape)
    task = config.task_facts()
    return (*task.IMAGE_SHAPE, 1)


TFDS_TEXT_FEATURE = "text"
"""The TFDS feature a text task reads (``imdb_reviews``' review, for instance)."""


def tfds_feature_map(config: PipelineConfig) -> dict[str, str]:
    """TFDS feature -> our feature name: the image (a text task: the text) and the label."""
    task = config.task_facts()
    text_key = getattr(task, "TEXT_KEY", None)
    if text_key:
        return {TFDS_TEXT_FEATURE: text_key, "label": task.LABEL_KEY}
    return {"image": task.IMAGE_KEY, "label": task.LABEL_KEY}


def _check_tfds_has_text(config: PipelineConfig) -> None:
    """A text task needs a TFDS dataset with a text feature; else name what it has."""
    import tensorflow_datasets as tfds

    from components.tfds_example_gen.source import load_builder

    ingest = config.ingest
    features = load_builder(ingest.tfds_name, ingest.tfds_version or None,
                            ingest.tfds_data_dir or None, ingest.tfds_download).info.features
    if TFDS_TEXT_FEATURE not in features or not isinstance(features[TFDS_TEXT_FEATURE],
                                                            tfds.features.Text):
        have = ", ".join(f"{k} ({type(v).__name__})" for k, v in features.items())
        raise DlpipeError(
            f"Task {config.task} reads text (feature {config.task_facts().TEXT_KEY!r}), but "
            f"TFDS dataset {ingest.tfds_name!r} has no {TFDS_TEXT_FEATURE!r} Text feature (it "
            f"has {have}). Expected a text classification dataset such as 'imdb_reviews'."
        )


def _check_task_takes(config: PipelineConfig, values: int, what: str) -> None:
    """The task must read images of ``values`` pixel values; else say what each side has."""
    _check_task_is_not_text(config, f"images ({what})")
    task = config.task_facts()
    expected = getattr(task, "IMAGE_SIZE", None)
    if expected is None:
        raise DlpipeError(
            f"ingest.kind={config.ingest.kind!r} provides images ({what}), but task "
            f"{config.task} does not read images. Expected a dataset matching the task."
        )
    if values != expected:
        raise DlpipeError(
            f"{what} gives images of {values} values, but task {config.task} reads images "
            f"of shape {tuple(task.IMAGE_SHAPE)} ({expected} values). Expected matching "
            f"shapes (set ingest.image_shape, or use a task built for this dataset)."
        )


def check_source(config: PipelineConfig) -> int:
    """Checks the configured input before anything runs; returns its number of examples.

    Raises:
      DlpipeError: naming the input and what was expected.
    """
    kind = config.ingest.kind
    if kind == "image_folder":
        from components.image_folder_example_gen.folder import scan_image_folder

        _check_task_is_not_text(config, "images")  # before image_shape: a text task has none
        shape = image_shape(config)
        folder = scan_image_folder(config.data_dir, shape, resize=True)
        _check_task_takes(config, math.prod(shape), f"ingest.image_shape {list(shape)}")
        return len(folder.files)
    if kind == "tfds":
        from components.tfds_example_gen.source import resolve_source

        ingest = config.ingest
        text_task = bool(getattr(config.task_facts(), "TEXT_KEY", None))
        if text_task:
            _check_tfds_has_text(config)
        source = resolve_source(
            ingest.tfds_name, TFDS_SPLITS, version=ingest.tfds_version or None,
            data_dir=ingest.tfds_data_dir or None, feature_map=tfds_feature_map(config),
            download=ingest.tfds_download,
        )
        if text_task:
            return sum(source.split_counts.values())
        plan = {p.name: p for p in source.plan}
        task = config.task_facts()
        image = plan.get(task.IMAGE_KEY)
        if image is None or None in image.shape:
            raise DlpipeError(
                f"TFDS dataset {ingest.tfds_name!r} has no fixed-shape 'image' feature. "
                f"Expected an image classification dataset for task {config.task}."
            )
        _check_task_takes(config, math.prod(image.shape),
                          f"TFDS dataset {ingest.tfds_name!r} (image {list(image.shape)})")
        return sum(source.split_counts.values())
    if kind in CSV_KINDS:
        return check_csv_source(config)
    _check_task_is_not_text(config, "tf.Example TFRecords")
    return prepare_input(kind, config.data_dir, config.root / INPUT_CHECKS_FILE)[1]


def _check_task_is_not_text(config: PipelineConfig, what: str) -> None:
    """Image sources cannot feed a text task; say which feature the task wanted."""
    task = config.task_facts()
    text_key = getattr(task, "TEXT_KEY", None)
    if text_key and config.ingest.kind not in CSV_KINDS and config.ingest.kind != "tfrecord":
        raise DlpipeError(
            f"Task {config.task} reads text (feature {text_key!r}), but ingest.kind="
            f"{config.ingest.kind!r} provides {what}. Expected a text dataset: ingest.kind "
            f"'csv', 'imdb_sample', 'tfrecord' or 'tfds' with a text feature."
        )
