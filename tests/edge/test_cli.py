"""``dlpipe export-edge`` through the real console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

DLPIPE = Path(sys.executable).with_name("dlpipe")
REPO = Path(__file__).resolve().parents[2]


def dlpipe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DLPIPE), *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_non_saved_model_directory_exits_non_zero_with_one_clear_line(tmp_path):
    (tmp_path / "weights.h5").write_text("")
    proc = dlpipe("export-edge", "--model", str(tmp_path), "--output", str(tmp_path / "o"))
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("dlpipe export-edge:")]
    assert lines == [
        f"dlpipe export-edge: error: {str(tmp_path)!r} is not a SavedModel: expected "
        "saved_model.pb in it (written by tf.saved_model.save or model.export), found "
        "['weights.h5']"
    ]
    assert "Traceback" not in proc.stderr


def test_prints_the_report_table(tmp_path, cnn_saved_model, digits):
    eval_path = tmp_path / "eval.npz"
    np.savez(eval_path, x=digits["x_eval"], y=digits["y_eval"])
    proc = dlpipe(
        "export-edge",
        "--model",
        str(cnn_saved_model),
        "--formats",
        "float32,onnx",
        "--eval-data",
        str(eval_path),
        "--output",
        str(tmp_path / "out"),
        "--latency-runs",
        "20",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {ln.split()[0]: ln.split() for ln in proc.stdout.splitlines() if ln.strip()}
    assert {"savedmodel", "float32", "onnx"} <= set(rows)
    assert rows["float32"][8] == "yes" and rows["onnx"][8] == "yes"
    assert (tmp_path / "out" / "model_float32.tflite").is_file()


def test_bad_format_name_is_a_user_error(tmp_path, cnn_saved_model):
    proc = dlpipe("export-edge", "--model", str(cnn_saved_model), "--formats", "float64")
    assert proc.returncode == 1
    assert "Unknown edge formats ['float64']" in proc.stderr
