"""The task resolved against each source: a TFDS text set maps ``text`` and its ClassLabel
names; a CIFAR-10-shaped TFDS set gives a 32x32x3 image task; a source that does not provide
what the task reads fails before anything runs, in one line naming the key and the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from dlpipe.errors import ConfigError
from pipeline.config import load_config
from pipeline.tasks import prepare

TEXT_TASK = ("task.kind=text_classification", "model.builder=lstm", "model.hparams={}")
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


class TinyCifar(tfds.core.GeneratorBasedBuilder):
    """Six 32x32 RGB images with named classes, shaped like ``cifar10``."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),
            "image": tfds.features.Image(shape=(32, 32, 3)),
            "label": tfds.features.ClassLabel(names=["airplane", "automobile", "bird"]),
        }))

    def _split_generators(self, dl_manager):
        del dl_manager
        return {"train": self._generate_examples(6), "test": self._generate_examples(3)}

    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"id": f"img_{i}", "image": np.full((32, 32, 3), 40 * i, np.uint8),
                      "label": i % 3}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfds")
    for name in ("tiny_reviews", "tiny_images", "tiny_cifar"):
        tfds.builder(name, data_dir=str(root)).download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return root


def _config(tmp_path: Path, *overrides: str):
    return load_config(None, [f"output_root={tmp_path}", *TEXT_TASK, *overrides])


def test_tfds_text_dataset_maps_text_and_label(tmp_path, tfds_dir):
    config = _config(tmp_path, "ingest.kind=tfds", "ingest.tfds_name=tiny_reviews",
                     f"ingest.tfds_data_dir={tfds_dir}")
    prepared = prepare(config)
    assert prepared.source.tfds_feature_map == {"text": "text", "label": "label"}
    assert prepared.source.examples == 6
    assert prepared.task.classes == ("neg", "pos")  # the ClassLabel's names
    assert prepared.task.class_keys == ("0", "1")  # ...looked up by their indices


def test_tfds_cifar_shaped_dataset_is_a_32x32x3_image_task(tmp_path, tfds_dir):
    config = load_config(None, [f"output_root={tmp_path}", "ingest.kind=tfds",
                                "ingest.tfds_name=tiny_cifar", f"ingest.tfds_data_dir={tfds_dir}",
                                "validate.schema_file="])
    task = prepare(config).task
    assert task.kind == "image_classification"
    assert task.image_shape == (32, 32, 3) and not task.resize
    assert task.classes == ("airplane", "automobile", "bird")
    # An explicit shape must match: TFDS images are never resized silently.
    config = load_config(None, [f"output_root={tmp_path}", "ingest.kind=tfds",
                                "ingest.tfds_name=tiny_cifar", f"ingest.tfds_data_dir={tfds_dir}",
                                "validate.schema_file=", "task.image_shape=[28,28,1]"])
    with pytest.raises(ConfigError, match=r"'task.image_shape' is \[28, 28, 1\], but TFDS "
                                          r"dataset 'tiny_cifar'.*holds images of shape "
                                          r"\[32, 32, 3\]"):
        prepare(config)


def test_text_task_on_an_image_tfds_dataset(tmp_path, tfds_dir):
    config = _config(tmp_path, "ingest.kind=tfds", "ingest.tfds_name=tiny_images",
                     f"ingest.tfds_data_dir={tfds_dir}")
    with pytest.raises(ConfigError) as e:
        prepare(config)
    message = str(e.value)
    assert "'task.text' names text feature 'text', which" in message
    assert "TFDS dataset 'tiny_images' (features: image (Image), label (ClassLabel))" in message


@pytest.mark.parametrize("kind", ["sklearn_digits", "image_folder"])
def test_text_task_on_image_sources(tmp_path, kind):
    folder = tmp_path / "pngs" / "0"
    folder.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(folder / "a.png")
    with pytest.raises(ConfigError, match=rf"'text_classification', which reads text, but "
                                          rf"ingest.kind='{kind}' provides images"):
        _config(tmp_path, f"ingest.kind={kind}",
                *([f"ingest.path={tmp_path / 'pngs'}"] if kind == "image_folder" else []))


def test_csv_without_the_text_column(tmp_path):
    data = tmp_path / "csv"
    data.mkdir()
    (data / "reviews.csv").write_text("label,review\n0,dull plot\n1,great movie\n")
    config = _config(tmp_path, "ingest.kind=csv", f"ingest.path={data}")
    with pytest.raises(ConfigError, match=r"'task.text' names text feature 'text', which the "
                                          r"CSV input .* does not have. Expected one of: "
                                          r"label, review"):
        prepare(config)


def test_imdb_sample_fits_the_text_task(tmp_path):
    prepared = prepare(_config(tmp_path, "ingest.kind=imdb_sample"))
    assert prepared.source.examples == 100
    assert prepared.task.classes == ("0", "1") and prepared.task.text == "text"


def _prepare_locally(builder_class, name: str, data_dir: Path) -> None:
    """Prepares the real builder ``builder_class`` (its features, name and version) in
    ``data_dir`` with 20 + 10 generated images instead of the download."""

    class Local(builder_class, skip_registration=True):
        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._local(20, 0), "test": self._local(10, 1)}

        def _local(self, n, seed):
            rng = np.random.default_rng(seed)
            for i in range(n):
                yield f"{seed}_{i}", {"image": rng.integers(0, 256, (28, 28, 1), np.uint8),
                                      "label": i % 10}

    Local.name = name
    Local(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))


@pytest.mark.parametrize("name,first_classes", [
    ("mnist", ("0", "1", "2")),
    ("fashion_mnist", ("T-shirt/top", "Trouser", "Pullover")),
])
def test_tfds_mnist_and_fashion_mnist_by_name_are_28x28x1_image_tasks(tmp_path, name,
                                                                       first_classes):
    from tensorflow_datasets.image_classification import mnist

    builder = {"mnist": mnist.MNIST, "fashion_mnist": mnist.FashionMNIST}[name]
    _prepare_locally(builder, name, tmp_path / "tfds")
    config = load_config(None, [f"output_root={tmp_path}", "ingest.kind=tfds",
                                f"ingest.tfds_name={name}",
                                f"ingest.tfds_data_dir={tmp_path / 'tfds'}",
                                "validate.schema_file="])
    prepared = prepare(config)
    task = prepared.task
    assert task.kind == "image_classification"
    assert task.image_shape == (28, 28, 1) and not task.resize
    assert len(task.classes) == 10 and task.classes[:3] == first_classes
    assert prepared.source.examples == 30


def test_an_audio_folder_is_an_audio_task_at_its_resampled_rate(tmp_path):
    from tests.components.test_audio_folder_example_gen import write_folder

    write_folder(tmp_path / "clips", rate=22050)
    base = [f"output_root={tmp_path}", "ingest.kind=audio_folder",
            f"ingest.path={tmp_path / 'clips'}", "task.kind=audio_classification",
            "validate.schema_file="]
    task = prepare(load_config(None, base)).task
    assert (task.sample_rate, task.audio_samples, task.audio_scale) == (16000, 16000, 1.0)
    assert task.classes == ("high", "low")
    task = prepare(load_config(None, [*base, "task.sample_rate=8000",
                                      "task.clip_seconds=0.5"])).task
    assert (task.sample_rate, task.audio_samples) == (8000, 4000)
    with pytest.raises(ConfigError, match=r"'task.kind' is 'image_classification', which "
                                          r"reads images, but ingest.kind='audio_folder' "
                                          r"provides audio"):
        load_config(None, [*base, "task.kind=image_classification"])


def test_tfds_speech_commands_by_name_is_an_audio_task(tmp_path):
    from tensorflow_datasets.datasets.speech_commands import speech_commands_dataset_builder

    class Local(speech_commands_dataset_builder.Builder, skip_registration=True):
        name = "speech_commands"

        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._local(12, 0), "validation": self._local(4, 1),
                    "test": self._local(6, 2)}

        def _local(self, n, seed):
            rng = np.random.default_rng(seed)
            for i in range(n):  # clips of several lengths, as the real ones are
                yield f"{seed}_{i}", {"audio": rng.integers(-3000, 3000, 8000 + 500 * i,
                                                            dtype=np.int16),
                                      "label": i % 12}

    Local(data_dir=str(tmp_path / "tfds")).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    base = [f"output_root={tmp_path}", "ingest.kind=tfds", "ingest.tfds_name=speech_commands",
            f"ingest.tfds_data_dir={tmp_path / 'tfds'}", "task.kind=audio_classification",
            "validate.schema_file="]
    prepared = prepare(load_config(None, base))
    task = prepared.task
    assert (task.sample_rate, task.audio_samples, task.audio_scale) == (16000, 16000, 32768.0)
    assert task.classes[:3] == ("down", "go", "left") and len(task.classes) == 12
    assert prepared.source.tfds_feature_map == {"audio": "audio", "label": "label"}
    with pytest.raises(ConfigError, match=r"'task.sample_rate' is 8000, but the waveforms .* "
                                          r"have 16000 samples per second"):
        prepare(load_config(None, [*base, "task.sample_rate=8000"]))


def prepare_local_movielens(data_dir: Path, ratings: int = 60) -> None:
    """``movielens/100k-ratings`` with the real builder's features and generated rows (the
    real dataset has a train split only)."""
    from tensorflow_datasets.structured import movielens

    class Local(movielens.Movielens, skip_registration=True):
        name = "movielens"

        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._local()}

        def _local(self):
            rng = np.random.default_rng(0)
            for i in range(ratings):
                user, movie = int(rng.integers(1, 13)), int(rng.integers(1, 21))
                yield i, {"movie_id": str(movie), "movie_title": f"Movie {movie}",
                          "movie_genres": [movie % 5], "user_id": str(user),
                          "user_rating": float(1 + i % 5), "timestamp": 880000000 + i,
                          "user_gender": bool(user % 2), "bucketized_user_age": 25.0,
                          "user_occupation_label": user % 22,
                          "user_occupation_text": "writer", "user_zip_code": "02139",
                          "raw_user_age": 27.0}

    Local(config="100k-ratings", data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))


def test_tfds_movielens_by_name_is_a_retrieval_task_split_by_hash(tmp_path):
    from pipeline.ingest import TFDS_HASHED, tfds_splits

    prepare_local_movielens(tmp_path / "tfds")
    config = load_config(None, [
        f"output_root={tmp_path}", "ingest.kind=tfds", "ingest.tfds_name=movielens/100k-ratings",
        f"ingest.tfds_data_dir={tmp_path / 'tfds'}", "task.kind=retrieval",
        "task.user=user_id", "task.item=movie_id", "model.builder=two_tower", "model.hparams={}",
        "validate.schema_file="])
    assert tfds_splits(config.ingest) == TFDS_HASHED  # no test split: train, hash-split
    prepared = prepare(config)
    task = prepared.task
    assert (task.kind, task.user, task.item, task.label) == ("retrieval", "user_id",
                                                             "movie_id", "movie_id")
    assert task.feature_dtypes == {"user_id": "string", "movie_id": "string"}
    assert prepared.source.examples == 60
    with pytest.raises(ConfigError, match=r"'task.item' names 'user_rating', which holds "
                                          r"non-integer numbers"):
        prepare(load_config(None, [*(f"{k}={v}" for k, v in {
            "output_root": tmp_path, "ingest.kind": "tfds",
            "ingest.tfds_name": "movielens/100k-ratings",
            "ingest.tfds_data_dir": tmp_path / "tfds", "task.kind": "retrieval",
            "task.item": "user_rating", "model.builder": "two_tower", "model.hparams": "{}",
            "validate.schema_file": ""}.items())]))
