import gzip

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.errors import DlpipeError
from models.digits import features
from pipeline import ingest


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


def test_palmerpenguins_round_trip(tmp_path):
    import csv

    from palmerpenguins import load_penguins

    from models.penguins import features as penguins

    path = ingest.write_palmerpenguins(tmp_path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    frame = load_penguins()
    assert len(rows) == len(frame) == 344
    assert tuple(rows[0]) == penguins.CSV_COLUMNS
    for row, (_, source) in zip(rows, frame.iterrows(), strict=True):
        assert penguins.CLASS_NAMES[int(row["species"])] == source["species"]
        for key in penguins.NUMERIC_KEYS:
            if np.isnan(source[key]):
                assert row[key] == ""  # missing stays missing, for Transform to impute
            else:
                assert float(row[key]) == pytest.approx(source[key])
        assert row["sex"] == ("" if not isinstance(source["sex"], str) else source["sex"])
    assert sum(row["sex"] == "" for row in rows) == 11


def test_csv_source_checks_columns_against_the_task(tmp_path):
    from pipeline.config import load_config

    data = tmp_path / "csv"
    data.mkdir()
    (data / "rows.csv").write_text("species,island,bill_length_mm\n0,Biscoe,40.1\n")
    config = load_config(None, [f"output_root={tmp_path}", "task=models.penguins.features",
                                "ingest.kind=csv", f"ingest.path={data}"])
    with pytest.raises(DlpipeError, match=r"rows\.csv has no column 'bill_depth_mm'"):
        ingest.check_source(config)

    config = load_config(None, [f"output_root={tmp_path}", "task=models.penguins.features",
                                "ingest.kind=palmerpenguins"])
    assert ingest.check_source(config) == 344

    config = load_config(None, [f"output_root={tmp_path}", "ingest.kind=palmerpenguins"])
    with pytest.raises(DlpipeError, match="provides CSV rows, but task models.digits.features "
                                          "reads images"):
        ingest.check_source(config)


def test_checked_files_are_not_read_again_until_they_change(tmp_path):
    import os

    data = tmp_path / "data"
    path = ingest.write_sklearn_digits(data)
    cache = tmp_path / "out" / ingest.INPUT_CHECKS_FILE
    assert ingest.check_tfrecords([path], cache) == 1797
    assert cache.is_file()
    # Same size and modification time: trusted from the cache, the bytes are not re-read.
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ingest.check_tfrecords([path], cache) == 1797
    # A changed file is read again, and its corruption is reported.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    with pytest.raises(DlpipeError, match="Corrupt record"):
        ingest.check_tfrecords([path], cache)
    # Without a cache everything is read.
    with pytest.raises(DlpipeError, match="Corrupt record"):
        ingest.check_tfrecords([path])
