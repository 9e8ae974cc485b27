"""The one TFRecord reader and writer: round trips, compression by name, limits."""

from __future__ import annotations

from dlpipe import examples


def _example(i: int) -> bytes:
    from tensorflow.core.example import example_pb2

    ex = example_pb2.Example()
    ex.features.feature["x"].int64_list.value.append(i)
    return ex.SerializeToString()


def test_write_then_read_gzip_and_plain(tmp_path):
    import tensorflow as tf

    assert examples.write_records(tmp_path / "a.tfrecord.gz", [_example(i) for i in range(3)]) == 3
    with tf.io.TFRecordWriter(str(tmp_path / "b.tfrecord")) as w:
        w.write(_example(3))
    files = examples.record_files(tmp_path)
    assert [f.name for f in files] == ["a.tfrecord.gz", "b.tfrecord"]
    values = [examples.feature_values(e, "x") for e in examples.read_examples(files)]
    assert values == [[0], [1], [2], [3]]
    assert len(list(examples.read_records(files, limit=2))) == 2
    assert list(examples.read_records(files, limit=0)) == []


def test_record_files_skips_temp_files_and_reads_splits(tmp_path):
    split = tmp_path / "Split-eval"
    split.mkdir()
    examples.write_records(split / "data.gz", [_example(1)])
    (split / ".data.gz.tmp").write_bytes(b"partial")
    assert examples.split_files(tmp_path, "eval") == [split / "data.gz"]
    assert examples.feature_values(next(examples.read_examples([split / "data.gz"])), "y") == []


def test_an_example_always_serializes_to_the_same_bytes():
    """ExampleGen assigns train/eval by a hash of these bytes: with the feature map written
    in varying order an image would move between the splits from one run to the next."""
    pixels = [float(v) for v in range(64)]
    assert len({examples.image_example(pixels, 3) for _ in range(2000)}) == 1
