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


def test_plain_keras_export_with_eval_data_only(tmp_path, digits):
    """A user's `model.export()` (no edge signature, no edge spec) and a labelled .npz: every
    format is produced, checked and its accuracy measured; nothing lands in the cwd."""
    import json

    import keras

    keras.utils.set_random_seed(11)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Rescaling(1 / 16),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    assert model.count_params() >= 100_000  # where int8 must reach 0.3x float32
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits["x_train"], digits["y_train"], epochs=4, batch_size=32, verbose=0)
    model.export(str(tmp_path / "exported"))
    np.savez(tmp_path / "eval.npz", x=digits["x_eval"], y=digits["y_eval"])
    (tmp_path / "cwd").mkdir()

    proc = subprocess.run(
        [str(DLPIPE), "export-edge", "--model", str(tmp_path / "exported"), "--eval-data",
         str(tmp_path / "eval.npz"), "--latency-runs", "5"],
        cwd=tmp_path / "cwd", capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("no 'edge' signature: converted 'serving_default'") == 1
    rows = {ln.split()[0]: ln.split() for ln in proc.stdout.splitlines() if ln.strip()}
    accuracy = {fmt: float(rows[fmt][4]) for fmt in ("savedmodel", "float32", "float16",
                                                      "dynamic_range", "int8", "onnx")}
    assert accuracy["savedmodel"] >= 0.85, accuracy  # exit 0: every format within its gate
    assert list((tmp_path / "cwd").iterdir()) == []
    out = tmp_path / "exported_edge"
    report = json.loads((out / "edge_report.json").read_text())
    int8 = next(r for r in report["formats"] if r["format"] == "int8")
    print(f"int8 / float32 size of a {model.count_params()}-parameter CNN: "
          f"{int8['size_ratio']:.3f}")
    assert int8["size_ratio"] <= 0.3
    assert (out / "labels.txt").read_text().split() == [str(i) for i in range(10)]
