"""Other ingest kinds through the real CLI: an image folder end to end, and the checks that
stop a TFDS or mismatched source before anything runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dlpipe import contract
from dlpipe.examples import image_example, write_records
from tests.conftest import one_line_error
from tests.e2e.helpers import dlpipe_run, eval_split, run_task


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """The bundled digits as PNGs, one folder per class (grey levels 0..16 -> 0..255)."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digit_pngs")
    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = root / str(label)
        folder.mkdir(exist_ok=True)
        pixels = np.round(image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"{i:04d}.png")
    return root


@pytest.mark.e2e
def test_image_folder_end_to_end(cli, tmp_path, image_folder):
    """An image folder resized, as asked, to 16x16: the shape the served model reads."""
    result, run_id, config = dlpipe_run(
        cli, tmp_path, "ingest.kind=image_folder", f"ingest.path={image_folder}",
        "task.image_shape=[16,16,1]", "validate.schema_file=", "edge.formats=[float32]",
        "train.train_steps=200",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1797 examples" in result.stdout
    assert re_search(r"ImageFolderExampleGen\s+executed", result.stdout)
    assert "SchemaGen" in result.stdout and "blessed:  yes" in result.stdout
    task = run_task(config, run_id)
    assert task.image_shape == (16, 16, 1) and task.resize
    assert task.classes == tuple(str(d) for d in range(10))  # the subfolders' names
    images, labels = eval_split(config, task)
    assert images.max() > 16  # the folder's 0..255 grey levels, not the bundled 0..16
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    serve = loaded.signatures[contract.SERVING_SIGNATURE]
    assert serve.structured_input_signature[1]["image"].shape.as_list() == [None, 16, 16, 1]
    out = serve(image=tf.constant(images, tf.float32))
    assert float(np.mean(out[contract.CLASS_ID_OUTPUT].numpy() == labels)) >= 0.90
    # The edge metadata tells apps the raw range of this data (PNG grey levels), not 0..16.
    metadata = json.loads((config.edge_root / "digits" / "1" / "metadata.json").read_text())
    assert metadata["input"]["range"] == [0.0, 255.0]


def re_search(pattern: str, text: str):
    import re

    return re.search(pattern, text)


def test_image_shape_that_does_not_fit_the_task(cli, tmp_path):
    """TFRecord images are never resized: a shape that does not fit is refused at once."""
    from sklearn.datasets import load_digits

    data = tmp_path / "data"
    digits = load_digits()
    write_records(data / "digits.tfrecord.gz", (
        image_example(image.reshape(-1), label)
        for image, label in zip(digits.images[:50], digits.target[:50], strict=True)))
    result = cli("run", "--set", f"output_root={tmp_path}", "--set", "ingest.kind=tfrecord",
                 "--set", f"ingest.path={data}", "--set", "task.image_shape=[16,16,1]")
    one_line_error(result, 2, "task.image_shape", "256 values", "holds 64 values")
    assert not (tmp_path / "serving").exists() or not any((tmp_path / "serving").iterdir())


def test_tfds_dataset_that_is_not_prepared_fails_at_once(cli, tmp_path):
    empty = tmp_path / "tfds"
    empty.mkdir()
    result = cli("run", "--set", f"output_root={tmp_path / 'out'}", "--set", "ingest.kind=tfds",
                 "--set", "ingest.tfds_name=mnist", "--set", f"ingest.tfds_data_dir={empty}")
    one_line_error(result, 1, "mnist", "data_dir")


def test_tfds_needs_a_name(cli, tmp_path):
    one_line_error(cli("run", "--set", f"output_root={tmp_path}", "--set", "ingest.kind=tfds"),
                   2, "ingest.tfds_name")
