"""Ingest checks for the text task: a source that does not provide text fails before anything
runs, naming the input and what was expected; a TFDS text dataset maps ``text`` to the task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from dlpipe.errors import DlpipeError
from models.text import features
from pipeline import ingest
from pipeline.config import load_config

TEXT_TASK = "task=models.text.features"


class TinyReviews(tfds.core.GeneratorBasedBuilder):
    """Six reviews with a ``text`` Text feature and a ClassLabel, like ``imdb_reviews``."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "text": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=["neg", "pos"]),
        }))

    def _split_generators(self, dl_manager):
        del dl_manager
        return {"train": self._generate_examples(4), "test": self._generate_examples(2)}

    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"text": "great movie" if i % 2 else "dull plot", "label": i % 2}


class TinyImages(tfds.core.GeneratorBasedBuilder):
    """Four 8x8 grey images with labels: an image dataset a text task cannot read."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 1)),
            "label": tfds.features.ClassLabel(num_classes=2),
        }))

    def _split_generators(self, dl_manager):
        del dl_manager
        return {"train": self._generate_examples(), "test": self._generate_examples()}

    def _generate_examples(self):
        for i in range(4):
            yield i, {"image": np.full((8, 8, 1), i, np.uint8), "label": i % 2}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfds")
    for name in ("tiny_reviews", "tiny_images"):
        tfds.builder(name, data_dir=str(root)).download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return root


def _config(tmp_path: Path, *overrides: str):
    return load_config(None, [f"output_root={tmp_path}", TEXT_TASK, *overrides])


def test_tfds_text_dataset_maps_text_and_label(tmp_path, tfds_dir):
    config = _config(tmp_path, "ingest.kind=tfds", "ingest.tfds_name=tiny_reviews",
                     f"ingest.tfds_data_dir={tfds_dir}")
    assert ingest.tfds_feature_map(config) == {"text": features.TEXT_KEY,
                                               "label": features.LABEL_KEY}
    assert ingest.check_source(config) == 6


def test_text_task_on_an_image_tfds_dataset(tmp_path, tfds_dir):
    config = _config(tmp_path, "ingest.kind=tfds", "ingest.tfds_name=tiny_images",
                     f"ingest.tfds_data_dir={tfds_dir}")
    with pytest.raises(DlpipeError) as e:
        ingest.check_source(config)
    message = str(e.value)
    assert "reads text (feature 'text')" in message
    assert "'tiny_images' has no 'text' Text feature (it has image (Image), label" in message
    assert "Expected a text classification dataset" in message


@pytest.mark.parametrize("kind, provides", [
    ("sklearn_digits", "tf.Example TFRecords"),
    ("image_folder", "images"),
])
def test_text_task_on_image_sources(tmp_path, kind, provides):
    folder = tmp_path / "pngs" / "0"
    folder.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(folder / "a.png")
    config = _config(tmp_path, f"ingest.kind={kind}",
                     *([f"ingest.path={tmp_path / 'pngs'}"] if kind == "image_folder" else []))
    with pytest.raises(DlpipeError, match=rf"reads text \(feature 'text'\), but ingest.kind="
                                          rf"'{kind}' provides {provides}.*Expected a text"):
        ingest.check_source(config)


def test_csv_without_the_text_column(tmp_path):
    data = tmp_path / "csv"
    data.mkdir()
    (data / "reviews.csv").write_text("label,review\n0,dull plot\n1,great movie\n")
    config = _config(tmp_path, "ingest.kind=csv", f"ingest.path={data}")
    with pytest.raises(DlpipeError, match=r"reviews\.csv has no column 'text'"):
        ingest.check_source(config)


def test_imdb_sample_fits_the_text_task(tmp_path):
    config = _config(tmp_path, "ingest.kind=imdb_sample")
    assert ingest.check_source(config) == 100
