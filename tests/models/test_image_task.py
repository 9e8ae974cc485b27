"""The image kind's export: raw pixels in the data's units, and encoded image files through
``predict_image``, which must answer exactly as ``serving_default`` does on the pixels the
file holds mapped onto the learned range (0..255 files, 0..16 digits-like data)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from models.tasks import transform
from models.tasks.spec import IMAGE_CLASSIFICATION, Task

SHAPE = (6, 5, 3)


def _task(shape=SHAPE) -> Task:
    return Task(kind=IMAGE_CLASSIFICATION, label="label", label_dtype="int",
                classes=("a", "b"), class_keys=("0", "1"), image="image",
                image_shape=shape)


def _images(high: float, shape=SHAPE) -> np.ndarray:
    """Four images whose values span 0..high exactly (the range Transform learns)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, int(high) + 1, (4, *shape)).astype(np.float32)
    images[0].flat[0], images[1].flat[0] = 0.0, high
    return images


def _export(tmp_path, task: Task, images: np.ndarray) -> tf.types.experimental.GenericFunction:
    import keras
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from models.cnn import build_cnn
    from models.tasks.export import export_model

    size = int(np.prod(task.image_shape))
    spec = {"image": tf.io.FixedLenFeature([size], tf.float32),
            "label": tf.io.FixedLenFeature([1], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    rows = [{"image": image.reshape(-1), "label": [i % 2]} for i, image in enumerate(images)]
    with tft_beam.Context(temp_dir=str(tmp_path / "tmp"), force_tf_compat_v1=False):
        _, transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: transform.preprocessing_fn(inputs, {"task": task.to_dict()}))
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "graph"))
    metadata_io.write_metadata(
        metadata, str(tmp_path / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR))
    keras.utils.set_random_seed(0)
    model = build_cnn(task.image_shape, 2, conv_filters=(4,), dense_units=8)
    out = export_model(model, tft.TFTransformOutput(str(tmp_path / "graph")),
                       tmp_path / "model", task)
    return tf.saved_model.load(str(out))


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    squeezed = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    buffer = io.BytesIO()
    Image.fromarray(squeezed.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("rgb"), _task(), _images(255.0))


@pytest.fixture(scope="module")
def digits_like_model(tmp_path_factory):
    shape = (8, 8, 1)
    return _export(tmp_path_factory.mktemp("grey16"), _task(shape), _images(16.0, shape))


def test_png_files_answer_as_their_raw_pixels(rgb_model):
    assert contract.IMAGE_BYTES_SIGNATURE in rgb_model.signatures
    files = np.random.default_rng(1).integers(0, 256, (3, *SHAPE)).astype(np.uint8)
    by_file = rgb_model.signatures[contract.IMAGE_BYTES_SIGNATURE](
        image_bytes=tf.constant([_png(f) for f in files]))
    by_pixels = rgb_model.signatures[contract.SERVING_SIGNATURE](
        image=tf.constant(files.astype(np.float32)))
    np.testing.assert_allclose(by_file[contract.PROBABILITIES_OUTPUT].numpy(),
                               by_pixels[contract.PROBABILITIES_OUTPUT].numpy(), atol=1e-6)
    assert by_file[contract.CLASS_NAME_OUTPUT].numpy().tolist() == by_pixels[
        contract.CLASS_NAME_OUTPUT].numpy().tolist()


def test_file_grey_levels_map_onto_the_learned_range(digits_like_model):
    files = np.random.default_rng(2).integers(0, 256, (3, 8, 8, 1)).astype(np.uint8)
    by_file = digits_like_model.signatures[contract.IMAGE_BYTES_SIGNATURE](
        image_bytes=tf.constant([_png(f) for f in files]))
    pixels = files.astype(np.float32) / 255.0 * 16.0  # 0..255 onto the learned 0..16
    by_pixels = digits_like_model.signatures[contract.SERVING_SIGNATURE](
        image=tf.constant(pixels))
    np.testing.assert_allclose(by_file[contract.PROBABILITIES_OUTPUT].numpy(),
                               by_pixels[contract.PROBABILITIES_OUTPUT].numpy(), atol=1e-6)


def test_other_sizes_and_colour_files_are_converted(digits_like_model):
    # A 32x32 RGB JPEG for an 8x8 grey model: decoded as grey, resized.
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(buffer, format="JPEG")
    out = digits_like_model.signatures[contract.IMAGE_BYTES_SIGNATURE](
        image_bytes=tf.constant([buffer.getvalue()]))
    uniform = digits_like_model.signatures[contract.SERVING_SIGNATURE](
        image=tf.fill([1, 8, 8, 1], 200.0 / 255.0 * 16.0))
    np.testing.assert_allclose(out[contract.PROBABILITIES_OUTPUT].numpy(),
                               uniform[contract.PROBABILITIES_OUTPUT].numpy(), atol=2e-2)


def test_bytes_that_are_not_an_image_are_an_invalid_argument(digits_like_model):
    with pytest.raises(tf.errors.InvalidArgumentError):
        digits_like_model.signatures[contract.IMAGE_BYTES_SIGNATURE](
            image_bytes=tf.constant([b"not an image"]))
