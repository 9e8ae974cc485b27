import gzip

import numpy as np
import pytest
import tensorflow as tf

from models.digits import features
from pipeline import ingest
from pipeline.errors import DlpipeError


def _read(path):
    return [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(str(path), compression_type="GZIP")]


def test_sklearn_digits_round_trip(tmp_path):
    from sklearn.datasets import load_digits

    path = ingest.write_sklearn_digits(tmp_path)
    examples = _read(path)
    digits = load_digits()
    assert len(examples) == len(digits.target) == 1797
    first = examples[0].features.feature
    np.testing.assert_array_equal(
        np.array(first[features.IMAGE_KEY].float_list.value).reshape(features.IMAGE_SHAPE),
        digits.images[0],
    )
    assert first[features.LABEL_KEY].int64_list.value == [digits.target[0]]
    assert ingest.prepare_input("sklearn_digits", tmp_path) == (tmp_path, 1797)


def test_existing_output_is_left_untouched(tmp_path):
    path = ingest.write_sklearn_digits(tmp_path)
    before = path.stat().st_mtime_ns
    ingest.write_sklearn_digits(tmp_path)
    assert path.stat().st_mtime_ns == before
    assert not list(tmp_path.glob(".tmp-*"))


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(DlpipeError, match="does not exist"):
        ingest.prepare_input("tfrecord", tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DlpipeError, match=r"holds no \*\.tfrecord\* files"):
        ingest.prepare_input("tfrecord", tmp_path)
    ingest.write_tfrecords(tmp_path / "empty.tfrecord.gz", [])
    with pytest.raises(DlpipeError, match="no records"):
        ingest.prepare_input("tfrecord", tmp_path)


def test_corrupt_record_names_file_and_record(tmp_path):
    records = [ingest.image_example([1.0] * 64, 3, "image", "label") for _ in range(5)]
    good = tmp_path / "a.tfrecord"
    with tf.io.TFRecordWriter(str(good)) as w:
        for r in records:
            w.write(r)
    data = bytearray(good.read_bytes())
    data[len(data) // 2 + 20] ^= 0xFF  # flip a byte inside the third record's payload
    good.write_bytes(bytes(data))
    with pytest.raises(DlpipeError) as e:
        ingest.prepare_input("tfrecord", tmp_path)
    assert "Corrupt record in" in str(e.value) and "a.tfrecord at record 2" in str(e.value)


def test_record_that_is_not_a_tf_example(tmp_path):
    with gzip.open(tmp_path / "x.tfrecord.gz", "wb"):
        pass
    ingest.write_tfrecords(tmp_path / "x.tfrecord.gz", [b"\xff\xff not a proto"])
    with pytest.raises(DlpipeError, match="Corrupt record"):
        ingest.prepare_input("tfrecord", tmp_path)
