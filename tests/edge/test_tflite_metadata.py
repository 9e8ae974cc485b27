"""TFLite metadata inside the edge files, read by the metadata displayer and used by the TFLite
Task Library (the C++ library Android and iOS apps link) as an app would: image files and raw
text in, the labels out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from components.edge_export import formats, tflite_metadata
from components.edge_export.data import Dataset
from components.edge_export.export import export_edge
from tests.edge.conftest import CLASS_NAMES, LATENCY_RUNS, PIXEL_MAX
from tests.edge.task_library import task_library_missing

HELPER = Path(__file__).with_name("task_library.py")
needs_task_library = pytest.mark.skipif(bool(task_library_missing()),
                                        reason=task_library_missing() or "ok")


def run_task_library(tmp_path: Path, api: str, model: Path, inputs: list[str]) -> list[list]:
    """Top [label, score] of each input, from the Task Library in a process without TF."""
    request = tmp_path / f"request_{api}_{model.stem}.json"
    request.write_text(json.dumps({"api": api, "model": str(model), "inputs": inputs}))
    proc = subprocess.run([sys.executable, str(HELPER), str(request)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["top"]


def tensor_metadata(meta: dict, side: str) -> dict:
    (subgraph,) = meta["metadata"]["subgraph_metadata"]
    (tensor,) = subgraph[f"{side}_tensor_metadata"]
    return tensor


@needs_task_library
def test_every_tflite_carries_metadata_the_displayer_shows(cnn_export):
    report, out = cnn_export
    files = [report.result(f).file for f in formats.TFLITE_FORMATS]
    for fmt, name in zip(formats.TFLITE_FORMATS, files, strict=True):
        meta = tflite_metadata.read((out / name).read_bytes())
        assert meta is not None, f"{name} has no TFLite metadata"
        general = meta["metadata"]
        assert general["name"] and general["description"].startswith("Classification of ")
        assert general["author"] == formats.DEFAULT_AUTHOR
        assert general["license"] == formats.DEFAULT_LICENSE
        output = tensor_metadata(meta, "output")
        (labels_file,) = output["associated_files"]
        assert labels_file["type"] == "TENSOR_AXIS_LABELS"
        assert meta["files"][labels_file["name"]].split() == list(CLASS_NAMES)
        image = tensor_metadata(meta, "input")
        assert image["content"]["content_properties"]["color_space"] == "GRAYSCALE"
        # Raw pixels 0..16: an app's 0..255 is fed as p / (255 / 16).
        (unit,) = image["process_units"]
        assert unit["options"]["mean"] == [0.0]
        assert unit["options"]["std"] == [pytest.approx(255 / PIXEL_MAX)]
        recorded = report.result(fmt).tflite_metadata
        assert recorded["writer"] == "image_classifier" and recorded["task_library"] is None
        assert "takes only [1, H, W, 3] RGB" in recorded["note"]


@pytest.fixture(scope="module")
def rgb_export(tmp_path_factory, cnn_saved_model, digits):
    """The grey digits CNN's float32 and int8 (uint8 in/out) files with an RGB input."""
    out = tmp_path_factory.mktemp("rgb_edge")
    report = export_edge(
        cnn_saved_model, out,
        formats.ExportOptions(formats=("float32", "int8"), rgb_input=True, int8_io="uint8",
                              latency_runs=LATENCY_RUNS, model_name="digits"),
        representative=Dataset(digits["x_train"]),
        eval_data=Dataset(digits["x_eval"], digits["y_eval"]))
    return report, out


@pytest.fixture(scope="module")
def held_out_pngs(tmp_path_factory, digits) -> tuple[list[str], np.ndarray]:
    """The held-out digits as 8-bit RGB PNG files (R = G = B, as a phone's bitmap of a grey
    image; the Task Library converts no grey image to RGB), and the raw 0..16 grey values
    they hold."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("pngs")
    pixels = np.round(digits["x_eval"] * 255 / PIXEL_MAX).astype(np.uint8)
    paths = []
    for i, image in enumerate(pixels):
        path = root / f"{i:04d}.png"
        path.write_bytes(tf.io.encode_png(np.repeat(image, 3, axis=-1)).numpy())
        paths.append(str(path))
    return paths, pixels.astype(np.float32) * PIXEL_MAX / 255


@needs_task_library
def test_task_library_image_classifier_agrees_with_the_saved_model(
        tmp_path, rgb_export, held_out_pngs, cnn_saved_model):
    from tests.edge.conftest import saved_model_outputs

    report, out = rgb_export
    assert report.blessed_formats == ["float32", "int8"], [
        (r.format, r.error, r.gate_failures) for r in report.formats]
    paths, raw = held_out_pngs
    want = saved_model_outputs(cnn_saved_model, raw).argmax(-1)
    float32 = report.result("float32")
    assert float32.io["input"]["shape"] == [1, 8, 8, 3]
    assert float32.tflite_metadata["task_library"] == "ImageClassifier"
    top = run_task_library(tmp_path, "ImageClassifier", out / float32.file, paths)
    got = np.array([CLASS_NAMES.index(label) for label, _ in top])
    assert np.mean(got == want) >= 0.99, np.mean(got == want)

    # uint8 in and out: the Task Library feeds the file's pixels unnormalized, so the input
    # quantization must map 0..255 onto the raw 0..16 the model takes.
    int8 = report.result("int8")
    assert int8.io["input"]["dtype"] == "uint8" and int8.io["output"]["dtype"] == "uint8"
    q = int8.io["input"]["quantization"]
    assert q["zero_point"] == 0 and q["scale"] == pytest.approx(PIXEL_MAX / 255, rel=1e-6)
    top = run_task_library(tmp_path, "ImageClassifier", out / int8.file, paths)
    got = np.array([CLASS_NAMES.index(label) for label, _ in top])
    print(f"Task Library uint8 int8 file: top class equals the SavedModel's on "
          f"{np.mean(got == want):.4f} of {len(want)} held-out digits")
    assert np.mean(got == want) >= 0.95


def test_pushed_files_name_the_model_and_version(tmp_path, rgb_export):
    from components.edge_pusher.push import push_edge_models

    _, out = rgb_export
    push_edge_models(out, tmp_path, "digits_app", 4)
    meta = json.loads((tmp_path / "digits_app" / "4" / "metadata.json").read_text())
    for entry in meta["formats"].values():
        data = (tmp_path / "digits_app" / "4" / entry["file"]).read_bytes()
        general = tflite_metadata.read(data)["metadata"]
        assert (general["name"], general["version"]) == ("digits_app", "4")
        assert entry["size_bytes"] == len(data)
        # Only the name and version changed: the exported file says "digits", no version.
        exported = tflite_metadata.read((out / entry["file"]).read_bytes())["metadata"]
        assert (exported["name"], exported.get("version", "")) == ("digits", "")
        assert {k: v for k, v in general.items() if k not in ("name", "version")} == {
            k: v for k, v in exported.items() if k not in ("name", "version")}
