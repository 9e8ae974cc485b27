"""The one reader and writer of tf.Example TFRecord files (GZIP when the name ends ``.gz``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dlpipe.files import atomic_path


def compression(path: str | Path) -> str:
    """TFRecord compression by file name: ``GZIP`` for ``*.gz``, else none."""
    return "GZIP" if str(path).endswith(".gz") else ""


def record_files(path: str | Path) -> list[Path]:
    """The TFRecord files at ``path``: the file itself, or a directory's files (recursively,
    e.g. an Examples artifact's ``Split-eval``), dot-prefixed temp files left out."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def split_files(examples_uri: str | Path, split: str) -> list[Path]:
    """The TFRecord files of one split of a TFX Examples artifact (``Split-<split>``)."""
    return record_files(Path(examples_uri) / f"Split-{split}")


def read_records(files: Iterable[str | Path], limit: int | None = None) -> Iterator[bytes]:
    """Yields the serialized records of ``files`` in order, at most ``limit`` of them.

    Raises:
      tensorflow.errors.DataLossError: a corrupt or truncated file (the caller names it).
    """
    import tensorflow as tf

    if limit is not None and limit <= 0:
        return
    count = 0
    for path in files:
        for record in tf.data.TFRecordDataset(str(path), compression_type=compression(path)):
            yield record.numpy()
            count += 1
            if limit is not None and count >= limit:
                return


def read_examples(files: Iterable[str | Path], limit: int | None = None) -> Iterator[Any]:
    """Yields the ``tf.train.Example`` protos of ``files``, at most ``limit`` of them."""
    from tensorflow.core.example import example_pb2

    for record in read_records(files, limit):
        yield example_pb2.Example.FromString(record)


def feature_values(example: Any, key: str) -> list:
    """The values of one feature of a tf.Example (empty if absent or without values)."""
    feature = example.features.feature.get(key)
    if feature is None:
        return []
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def labelled_example(values: Iterable[float], label: int, values_key: str,
                     label_key: str = "label") -> bytes:
    """Serializes a flat float feature (an image's pixels, a clip's samples) and an int64
    label as a tf.Example, always to the same bytes: ExampleGen's hash split hashes them, and
    protobuf may otherwise write the feature map in a different order each time."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[values_key].float_list.value.extend(float(v) for v in values)
    example.features.feature[label_key].int64_list.value.append(int(label))
    return example.SerializeToString(deterministic=True)


def image_example(pixels: Iterable[float], label: int, image_key: str = "image",
                  label_key: str = "label") -> bytes:
    """Serializes one image as a tf.Example: a flat float feature and an int64 label."""
    return labelled_example(pixels, label, image_key, label_key)


def write_records(path: Path, records: Iterable[bytes]) -> int:
    """Writes serialized records to a gzipped TFRecord file whole; returns the count.

    The file appears under its final name only once complete, so a reader never sees a
    half-written file.
    """
    import tensorflow as tf

    count = 0
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp, options="GZIP") as writer:
        for record in records:
            writer.write(record)
            count += 1
    return count
