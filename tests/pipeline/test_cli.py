"""The real ``dlpipe`` command: help without heavy imports, one-line errors, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from dlpipe.examples import image_example
from tests.conftest import one_line_error


def test_help_imports_neither_tensorflow_nor_tfx():
    # `dlpipe --help` must answer at once: TFX takes ~16 s to import. Checked by what the
    # parser imports rather than by a clock.
    code = (
        "import sys, json; from pipeline.cli import build_parser; build_parser();"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tfx', 'keras', 'apache_beam', 'tensorflow_model_analysis'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.returncode == 0
    assert "run" in result.stdout and "config" in result.stdout


def test_unknown_key_and_wrong_type(cli):
    one_line_error(cli("run", "--set", "train.stepz=3"), 2, "Unknown config key 'train.stepz'")
    one_line_error(cli("run", "--set", "train.train_steps=many"), 2,
                    "train.train_steps", "'many'", "must be int")


def test_missing_and_empty_data_directory_write_nothing(cli, tmp_path):
    root = tmp_path / "out"
    one_line_error(
        cli("run", "--set", f"output_root={root}", "--set", "ingest.kind=tfrecord",
            "--set", f"ingest.path={tmp_path / 'absent'}"),
        1, "does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(
        cli("run", "--set", f"output_root={root}", "--set", "ingest.kind=tfrecord",
            "--set", f"ingest.path={tmp_path / 'empty'}"),
        1, "holds no *.tfrecord* files")
    assert not any((root / "serving").rglob("*"))


def test_corrupt_record(cli, tmp_path):
    import tensorflow as tf

    data = tmp_path / "data"
    data.mkdir()
    path = data / "part.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(3):
            writer.write(image_example([0.0] * 64, 1))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte: the record's CRC no longer matches
    path.write_bytes(bytes(raw))
    result = cli("run", "--set", f"output_root={tmp_path / 'out'}", "--set",
                 "ingest.kind=tfrecord", "--set", f"ingest.path={data}")
    one_line_error(result, 1, "Corrupt record in", "part.tfrecord at record 1")
    assert not any((tmp_path / "out" / "serving").rglob("*"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_read_only_output_root_as_user(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    one_line_error(cli("run", "--set", f"output_root={ro / 'runs'}"), 1, "is not writable")


def test_read_only_output_root(cli, tmp_path):
    # A path below a regular file cannot be created by anyone, root included; /proc is
    # read-only for everyone. Both stand for a pipeline root on a read-only path.
    blocker = tmp_path / "file"
    blocker.write_text("")
    one_line_error(cli("run", "--set", f"output_root={blocker / 'runs'}"), 1,
                    "output_root", "is not writable")
    one_line_error(cli("run", "--set", "output_root=/proc/dlpipe-runs"), 1, "is not writable")
