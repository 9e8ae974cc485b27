"""Profiles of the input: what each source holds, read before anything runs.

Every source is checked (a missing folder, a corrupt record, a CSV row with too few fields
fails here, in one line) and summarized as a ``DataProfile`` (``models.tasks.spec``): columns
with their types, counts and distinct values, image shapes and class names where the
source declares them. The task is resolved against it (``models.tasks.spec.resolve``).

TFRecord and CSV files are read once: a file (a CSV input: its set of files) already
profiled is remembered by path, size and modification time (``INPUT_CHECKS_FILE`` under the
output root) with its profile, so a re-run does not read it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlpipe.errors import DlpipeError
from dlpipe.examples import compression, read_records
from dlpipe.files import atomic_path
from models.tasks.spec import DISTINCT_CAP, FLOAT, INT, STRING, Column, DataProfile

INPUT_CHECKS_FILE = "input_checks.json"
"""Under the output root: TFRecord and CSV files already profiled, by path, size and mtime."""
_CACHE_VERSION = 2

_KINDS = {"float_list": FLOAT, "int64_list": INT, "bytes_list": STRING}


class _FeatureStats:
    """A feature's type, counts, size and distinct scalar values, streaming; mergeable."""

    def __init__(self, dtype: str = "", present: int = 0, size: int = 0,
                 values: list | None = None) -> None:
        self.dtype, self.present, self.size = dtype, present, size
        self.values: set | None = set(values) if values is not None else set()

    def add(self, dtype: str, values: Sequence[Any]) -> None:
        if not values:
            return
        self.dtype = self.dtype or dtype
        self.present += 1
        self.size = max(self.size, len(values))
        if self.values is not None:
            if len(values) == 1:
                v = values[0]
                self.values.add(v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                if len(self.values) > DISTINCT_CAP:
                    self.values = None
            else:
                self.values = None  # a list feature (e.g. an image): no distinct values

    def merge(self, other: _FeatureStats) -> None:
        self.dtype = self.dtype or other.dtype
        self.present += other.present
        self.size = max(self.size, other.size)
        if self.values is None or other.values is None:
            self.values = None
        else:
            self.values |= other.values
            if len(self.values) > DISTINCT_CAP:
                self.values = None

    def to_json(self) -> list:
        values = None if self.values is None else sorted(self.values, key=str)
        return [self.dtype, self.present, self.size, values]

    @classmethod
    def from_json(cls, data: list) -> _FeatureStats:
        return cls(*data)


def _order(value: Any) -> tuple:
    return (isinstance(value, str), value)


def _columns(stats: Mapping[str, _FeatureStats], examples: int) -> dict[str, Column]:
    columns = {}
    for name, s in sorted(stats.items()):
        values = () if s.values is None else tuple(sorted(s.values, key=_order))
        columns[name] = Column(name, s.dtype or STRING, s.present, examples - s.present,
                               None if s.values is None else len(values), values,
                               max(s.size, 1))
    return columns


def _load_cache(cache: Path | None) -> dict:
    try:
        data = json.loads(cache.read_text()) if cache else {}
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only means reading again
    return data if data.get("version") == _CACHE_VERSION else {}


def _save_cache(cache: Path | None, data: dict) -> None:
    if cache is None:
        return
    with atomic_path(cache) as tmp:
        Path(tmp).write_text(json.dumps({**data, "version": _CACHE_VERSION}))


def _profile_file(path: Path) -> tuple[int, dict[str, _FeatureStats]]:
    """Reads one TFRecord file: its example count and per-feature stats.

    Raises:
      DlpipeError: naming the file and the record index of the first corrupt record.
    """
    from tensorflow.core.example import example_pb2

    stats: dict[str, _FeatureStats] = {}
    index = 0
    try:
        for record in read_records([path]):
            example = example_pb2.Example.FromString(record)
            for name, feature in example.features.feature.items():
                kind = feature.WhichOneof("kind")
                values = getattr(feature, kind).value if kind else ()
                stats.setdefault(name, _FeatureStats()).add(_KINDS.get(kind, ""), values)
            index += 1
    except Exception as e:  # DataLossError, DecodeError: both mean a bad file
        cause = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DlpipeError(
            f"Corrupt record in {path} at record {index}: {cause}. Expected TFRecord files "
            f"of serialized tf.Example ({'gzip' if compression(path) else 'uncompressed'}, "
            f"by file name)."
        ) from None
    return index, stats


def profile_tfrecords(files: Sequence[Path], source: str, cache: Path | None = None,
                      **facts: Any) -> DataProfile:
    """Reads (or recalls) every record of ``files`` and profiles their features.

    Args:
      files: TFRecord files of tf.Example (``.gz``: GZIP).
      source: What they are, for messages.
      cache: The ``INPUT_CHECKS_FILE`` remembering profiled files; None: read all.
      **facts: Further ``DataProfile`` fields (e.g. a bundled set's image shape).

    Raises:
      DlpipeError: a corrupt record (file and index), or no records at all.
    """
    checks = _load_cache(cache)
    files_seen = checks.setdefault("files", {})
    total, stats = 0, {}
    for path in files:
        st = path.stat()
        key, stamp = str(path.resolve()), [st.st_size, st.st_mtime_ns]
        entry = files_seen.get(key)
        if entry and entry[:2] == stamp:
            count, file_stats = entry[2], {n: _FeatureStats.from_json(v)
                                           for n, v in entry[3].items()}
        else:
            count, file_stats = _profile_file(path)
            files_seen[key] = [*stamp, count, {n: s.to_json() for n, s in file_stats.items()}]
        total += count
        for name, s in file_stats.items():
            stats.setdefault(name, _FeatureStats()).merge(s)
    _save_cache(cache, checks)
    if total == 0:
        raise DlpipeError(f"{source} holds TFRecord files with no records. Expected "
                          f"serialized tf.Example records.")
    return DataProfile(source, total, _columns(stats, total), **facts)


def tfrecord_files(data_dir: Path, pattern: str) -> list[Path]:
    """The TFRecord files ExampleGen will read from ``data_dir``.

    Raises:
      DlpipeError: the directory is missing or holds no such files.
    """
    if not data_dir.is_dir():
        raise DlpipeError(f"Input directory {data_dir} does not exist. Expected a directory "
                          f"of {pattern} files (set ingest.path).")
    files = sorted(p for p in data_dir.glob(pattern) if p.is_file())
    if not files:
        raise DlpipeError(f"Input directory {data_dir} holds no {pattern} files. Expected "
                          f"TFRecord files of serialized tf.Example.")
    return files


def profile_csv(data_dir: Path, pattern: str, provides: str, cache: Path | None = None
                ) -> DataProfile:
    """Checks the CSV files CsvExampleGen will read and profiles their columns; files
    already checked (the same paths, sizes and mtimes) are recalled from ``cache``."""
    import dataclasses

    from components.csv_checks import check_csv, csv_files

    source = f"the CSV input {data_dir}"
    stamp = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns]
             for p in csv_files(data_dir, pattern)]
    checks, key = _load_cache(cache), f"{Path(data_dir).resolve()}:{pattern}"
    entry = checks.setdefault("csv", {}).get(key)
    if entry and entry["stamp"] == stamp:
        columns = {name: Column(**{**c, "values": tuple(c["values"])})
                   for name, c in entry["columns"].items()}
        return DataProfile(source, entry["rows"], columns, kind=provides)
    summary = check_csv(data_dir, pattern=pattern)
    checks["csv"][key] = {
        "stamp": stamp, "rows": summary.rows,
        "columns": {n: dataclasses.asdict(c) for n, c in summary.columns.items()}}
    _save_cache(cache, checks)
    return DataProfile(source, summary.rows, summary.columns, kind=provides)


def profile_image_folder(root: Path, image_key: str, label_key: str) -> DataProfile:
    """Checks an image folder and reports its classes and image shape."""
    from components.image_folder_example_gen.folder import scan_image_folder

    folder = scan_image_folder(root)
    sizes = folder.shapes
    shape = sorted(sizes)[0]
    columns = {
        image_key: Column(image_key, FLOAT, len(folder.files), 0, None, (), 0),
        label_key: Column(label_key, INT, len(folder.files), 0, len(folder.labels),
                          tuple(range(len(folder.labels)))),
    }
    return DataProfile(f"the image folder {root}", len(folder.files), columns,
                       image_shape=shape, image_shapes_differ=len(sizes) > 1, resizable=True,
                       class_names=folder.labels, kind="images")


def profile_audio_folder(root: Path, audio_key: str, label_key: str,
                         sample_rate: int) -> DataProfile:
    """Checks an audio folder and reports its classes; its clips are resampled to
    ``sample_rate`` (float samples in [-1, 1])."""
    from components.audio_folder_example_gen.folder import scan_audio_folder

    folder = scan_audio_folder(root)
    columns = {
        audio_key: Column(audio_key, FLOAT, len(folder.files), 0, None, (), 0),
        label_key: Column(label_key, INT, len(folder.files), 0, len(folder.labels),
                          tuple(range(len(folder.labels)))),
    }
    split = " (train/ and eval/ given)" if folder.split_given else ""
    return DataProfile(f"the audio folder {root}{split}", len(folder.files), columns,
                       class_names=folder.labels, sample_rate=sample_rate, audio_scale=1.0,
                       kind="audio")


def tfds_feature_map(features: Any, image: str, text: str, label: str,
                     reads: str, audio: str = "audio") -> dict[str, str] | None:
    """TFDS feature -> our feature: the task's image, text or audio feature (the first
    Image, Text or Audio feature unless one is named like it), and its label (named like it,
    else TFDS's ``label``); None for tables (every feature, nested paths joined with ``_``)."""
    import tensorflow_datasets as tfds

    if reads == "all":
        return None
    features = dict(features.items())  # a tfds FeaturesDict has no .get
    wanted, name = {"image": (tfds.features.Image, image), "text": (tfds.features.Text, text),
                    "audio": (tfds.features.Audio, audio)}[reads]
    source = name if isinstance(features.get(name), wanted) else next(
        (k for k, v in features.items() if isinstance(v, wanted)), None)
    mapping = {}
    if source is not None:
        mapping[source] = name
    if label in features:
        mapping[label] = label
    elif "label" in features:
        mapping["label"] = label
    return mapping


def profile_tfds(ingest: Any, splits: Mapping[str, str], image: str, text: str, label: str,
                 reads: str, audio: str = "audio"
                 ) -> tuple[DataProfile, dict[str, str] | None]:
    """Checks a TFDS dataset (prepared, splits exist) and profiles it from its feature spec.

    Returns:
      The profile and the feature map the TFDS ExampleGen writes with.
    """
    from components.tfds_example_gen.source import load_builder, resolve_source

    options = dict(version=ingest.tfds_version or None, data_dir=ingest.tfds_data_dir or None,
                   download=ingest.tfds_download)
    builder = load_builder(ingest.tfds_name, **options)
    features = builder.info.features
    feature_map = tfds_feature_map(features, image, text, label, reads, audio)
    source = resolve_source(ingest.tfds_name, splits, feature_map=feature_map, **options)
    examples = sum(source.split_counts.values())
    where = f"TFDS dataset {ingest.tfds_name!r}"
    columns, image_shape, class_names, texts = {}, None, (), []
    rate, scale = None, None
    by_path = dict(features.items())
    for p in source.plan:
        dtype = {"float": FLOAT, "int": INT}.get(p.kind, STRING)
        size = 1
        for d in p.shape:
            size *= d or 1
        columns[p.name] = Column(p.name, dtype, examples, 0,
                                 len(p.names) if p.names else None,
                                 tuple(range(len(p.names))) if p.names else (), size)
        if p.tfds_type == "Image" and None not in p.shape:
            image_shape = tuple(int(d) for d in p.shape)
        if p.names and p.name == label:
            class_names = p.names
        if p.tfds_type == "Text":
            texts.append(p.name)
        if p.tfds_type == "Audio" and rate is None:
            rate = int(getattr(by_path.get(p.source), "sample_rate", 0) or 0) or None
            scale = 32768.0 if dtype == INT else 1.0  # 16-bit PCM samples, or floats
    have = ", ".join(f"{k} ({type(v).__name__})" for k, v in features.items())
    kind = ("images" if image_shape else "text" if texts else "audio" if scale
            else "examples")
    profile = DataProfile(f"{where} (features: {have})", examples, columns,
                          image_shape=image_shape, class_names=class_names,
                          text_features=tuple(texts), sample_rate=rate, audio_scale=scale,
                          kind=kind)
    return profile, feature_map
