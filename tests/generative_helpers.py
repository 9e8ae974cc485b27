"""Small real artifacts for the generative tests: a Transform graph analyzed on the digits,
tiny trained VAE/GAN exports, a nearest-centroid digits scorer, Examples directories."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

from dlpipe import contract
from dlpipe.examples import image_example, write_records
from models.tasks.spec import Task

TRAIN_ROWS = 400
IMAGE_SHAPE = (8, 8, 1)
IMAGE_SIZE = 64
PIXEL_MAX = 16.0
"""The digits' grey levels are 0..16."""


def digits_task(kind: str = "vae") -> Task:
    """The resolved task of the digits_vae / digits_gan configs on the bundled digits."""
    return Task(kind=kind, label="label", label_dtype="int", image="image",
                image_shape=IMAGE_SHAPE)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: raw images [n, 8, 8, 1] (0..16, float32) and labels."""
    d = load_digits()
    return d.images[..., None].astype(np.float32), d.target.astype(np.int64)


def analyze_digits(out_dir: Path):
    """Runs the generative preprocessing_fn's analyzers (tf.Transform on Beam) over the
    first ``TRAIN_ROWS`` digits; returns the ``tft.TFTransformOutput``."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from models.tasks.transform import preprocessing_fn

    images, labels = digits()
    rows = [{"image": img.reshape(-1), "label": np.array([lab])}
            for img, lab in zip(images[:TRAIN_ROWS], labels[:TRAIN_ROWS], strict=True)]
    spec = {"image": tf.io.FixedLenFeature([IMAGE_SIZE], tf.float32),
            "label": tf.io.FixedLenFeature([1], tf.int64)}
    custom_config = {"task": digits_task().to_dict()}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=out_dir), force_tf_compat_v1=False):
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config))
        _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir / "transform"))
    # The raw schema beside the graph, as TFX's Transform writes it (the exports read it).
    metadata_io.write_metadata(
        metadata, str(out_dir / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR))
    return tft.TFTransformOutput(str(out_dir / "transform"))


def export_tiny_vae(export_dir: Path, tft_output, steps: int = 60, seed: int = 0) -> Path:
    """A small VAE fitted for ``steps`` steps on the scaled digits, exported."""
    import keras

    from models import vae
    from models.generative import export

    keras.utils.set_random_seed(seed)
    images, _ = digits()
    model = vae.build_vae(IMAGE_SHAPE, latent_dim=4, hidden_units=(32,), seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    data = tf.data.Dataset.from_tensor_slices(images[:TRAIN_ROWS] / 16.0).repeat().batch(64)
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return export.export_vae(model, tft_output, export_dir, digits_task("vae"), seed=seed)


def export_tiny_gan(export_dir: Path, tft_output, seed: int = 0) -> Path:
    """An untrained small GAN's generator, exported with the GAN contract."""
    import keras

    from models import gan
    from models.generative import export

    keras.utils.set_random_seed(seed)
    model = gan.build_gan((8, 8, 1), latent_dim=6, generator_filters=8,
                          discriminator_filters=4, seed=seed)
    return export.export_gan(model, tft_output, export_dir, digits_task("gan"))


class _TemplateGenerator(tf.Module):
    """noise -> the class-mean digit of argmax(noise[:, :classes]): a generator whose
    samples a centroid classifier recognizes, over ``classes`` of the 10 digits."""

    def __init__(self, means: np.ndarray, classes: int, latent: int) -> None:
        super().__init__()
        self.means = tf.constant(means[:classes])
        self.classes = classes
        self.generate = tf.function(
            self._generate, input_signature=[tf.TensorSpec([None, latent], tf.float32,
                                                           name="noise")])

    def _generate(self, noise):
        which = tf.argmax(noise[:, : self.classes], axis=1)
        return {"image": tf.gather(self.means, which)}


def class_means() -> np.ndarray:
    images, labels = digits()
    return np.stack([images[labels == k].mean(axis=0) for k in range(10)]).astype(np.float32)


def export_template_generator(export_dir: Path, classes: int = 10, latent: int = 12) -> Path:
    """A fake GAN SavedModel (``generate`` and ``serving_default``) producing class means."""
    from models.generative import contract

    module = _TemplateGenerator(class_means(), classes, latent)
    fn = module.generate.get_concrete_function()
    tf.saved_model.save(module, str(export_dir), signatures={
        contract.SERVING_SIGNATURE: fn, contract.GENERATE_SIGNATURE: fn})
    return export_dir


class _CentroidScorer(tf.Module):
    """Raw digit images -> softmax over negative distances to the class means."""

    def __init__(self, means: np.ndarray) -> None:
        super().__init__()
        self.means = tf.constant(means.reshape(10, -1))
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32, name="image")])

    def _serve(self, image):
        flat = tf.reshape(image, [-1, 1, IMAGE_SIZE])
        distance = tf.reduce_sum(tf.square(flat - self.means[None]), axis=-1)
        probabilities = tf.nn.softmax(-distance / 50.0, axis=-1)
        return {contract.PROBABILITIES_OUTPUT: probabilities,
                contract.CLASS_ID_OUTPUT: tf.argmax(probabilities, axis=-1)}


def export_centroid_scorer(export_dir: Path) -> Path:
    """A digits classifier with the digits serving contract (``serving_default``: image ->
    probabilities), as the scorer of GAN samples."""
    module = _CentroidScorer(class_means())
    tf.saved_model.save(module, str(export_dir), signatures={
        contract.SERVING_SIGNATURE: module.serve.get_concrete_function()})
    return export_dir


def write_examples(uri: Path, eval_rows: int = 100) -> None:
    """An Examples artifact directory: Split-train and Split-eval of real digits (gzip)."""
    images, labels = digits()
    splits = {"train": slice(0, TRAIN_ROWS), "eval": slice(TRAIN_ROWS, TRAIN_ROWS + eval_rows)}
    for split, rows in splits.items():
        path = uri / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz"
        records = [image_example(img.reshape(-1), int(lab))
                   for img, lab in zip(images[rows], labels[rows], strict=True)]
        write_records(path, records)
