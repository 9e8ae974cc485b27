"""TfdsExampleGen on a real TFDS dataset prepared here from scikit-learn's 8x8 digits.

``Digits8`` is an ordinary TFDS ``GeneratorBasedBuilder`` whose generator reads the digits
bundled with scikit-learn, so ``download_and_prepare()`` needs no network; the component
then reads it the way it reads any dataset (``tfds.builder(name, data_dir=...)``, then
``as_dataset`` per shard under Beam).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from components.tfds_example_gen.source import plan_features, resolve_source, to_example
from dlpipe.errors import DlpipeError

N_TRAIN = 1500  # of 1,797; the remaining 297 are the test split
WORDS = "zero one two three four five six seven eight nine".split()


class Digits8(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 digits: ``image`` (8, 8, 1) uint8, ``label``, ``text`` (its word)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                "text": tfds.features.Text(),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the data ships with scikit-learn
        digits = load_digits()
        images = digits.images.astype(np.uint8)[..., None]
        return {
            "train": self._generate_examples(images[:N_TRAIN], digits.target[:N_TRAIN]),
            "test": self._generate_examples(images[N_TRAIN:], digits.target[N_TRAIN:]),
        }

    def _generate_examples(self, images, labels):
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield i, {"image": image, "label": int(label), "text": WORDS[label]}


class ManualDigits8(Digits8):
    """A dataset that needs a manual download, to fail a download attempt without network."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = "Place the digits in manual_dir."

    def _split_generators(self, dl_manager):
        _ = dl_manager.manual_dir  # raises: manual_dir does not exist
        return super()._split_generators(dl_manager)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tfds")
    tfds.builder("digits8", data_dir=str(root)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return root


def _read_split(split_dir: Path) -> list[tf.train.Example]:
    files = sorted(split_dir.glob("*.gz"))
    assert files, f"no gzipped TFRecords in {split_dir}"
    dataset = tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")
    return [tf.train.Example.FromString(r.numpy()) for r in dataset]


def _pairs(examples: list[tf.train.Example], image_key: str) -> list[tuple[tuple, int]]:
    return sorted(
        (tuple(e.features.feature[image_key].float_list.value),
         e.features.feature["label"].int64_list.value[0])
        for e in examples
    )


def _sklearn_pairs(sl: slice) -> list[tuple[tuple, int]]:
    digits = load_digits()
    return sorted(
        (tuple(float(v) for v in image.ravel()), int(label))
        for image, label in zip(digits.images[sl], digits.target[sl], strict=True)
    )


@pytest.mark.e2e
def test_pipeline_writes_tfds_splits_that_statistics_gen_reads(tmp_path, data_dir):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.components import StatisticsGen
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.types import artifact_utils

    from components.tfds_example_gen.component import TfdsExampleGen

    example_gen = TfdsExampleGen(
        dataset="digits8",
        data_dir=str(data_dir),
        splits={"train[:1000]": "train", "test": "eval"},
        feature_map={"image": "pixels", "label": "label"},
    )
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    db = tmp_path / "mlmd.sqlite"
    connection = metadata.sqlite_metadata_connection_config(str(db))
    LocalDagRunner().run(
        pipeline.Pipeline(
            pipeline_name="tfds_test",
            pipeline_root=str(tmp_path / "root"),
            components=[example_gen, statistics_gen],
            metadata_connection_config=connection,
        )
    )

    store = metadata_store.MetadataStore(connection)
    (examples,) = store.get_artifacts_by_type("Examples")
    assert artifact_utils.decode_split_names(
        examples.properties["split_names"].string_value) == ["train", "eval"]
    assert examples.custom_properties["tfds_dataset"].string_value == "digits8/1.0.0"
    features = json.loads(examples.custom_properties["tfds_features"].string_value)
    assert features["pixels"] == {"source": "image", "kind": "float", "shape": [8, 8, 1],
                                  "tfds_type": "Image"}
    assert features["label"]["names"] == [str(d) for d in range(10)]
    assert "text" not in features  # left out by the feature map
    assert json.loads(examples.custom_properties["tfds_split_counts"].string_value) == {
        "train[:1000]": 1000, "test": 297}
    # The driver fingerprinted the prepared files (dataset_info.json, features.json, shards).
    files = [p for p in (data_dir / "digits8" / "1.0.0").iterdir() if p.is_file()]
    assert f"num_files:{len(files)}," in examples.custom_properties[
        "input_fingerprint"].string_value

    # Files: the slice and the whole test split, values exactly as in scikit-learn.
    train = _read_split(Path(examples.uri) / "Split-train")
    eval_ = _read_split(Path(examples.uri) / "Split-eval")
    assert (len(train), len(eval_)) == (1000, 297)
    assert set(eval_[0].features.feature) == {"pixels", "label"}
    assert _pairs(eval_, "pixels") == _sklearn_pairs(slice(N_TRAIN, None))
    # TFDS slices its stored (shuffled) order: the same 1000 as_dataset gives, all from
    # the digits the train split was built from.
    reference = tfds.as_numpy(
        tfds.builder("digits8", data_dir=str(data_dir)).as_dataset(split="train[:1000]"))
    expected = sorted((tuple(float(v) for v in ex["image"].ravel()), int(ex["label"]))
                      for ex in reference)
    assert _pairs(train, "pixels") == expected
    assert set(expected) <= set(_sklearn_pairs(slice(0, N_TRAIN)))

    # StatisticsGen ran on the Examples (lineage in MLMD) and counted every example.
    (stats,) = store.get_artifacts_by_type("ExampleStatistics")
    events = store.get_events_by_artifact_ids([examples.id, stats.id])
    producer = {e.artifact_id: e.execution_id for e in events
                if e.type == metadata_store_pb2.Event.OUTPUT}
    consumers = [e.execution_id for e in events
                 if e.type == metadata_store_pb2.Event.INPUT and e.artifact_id == examples.id]
    assert consumers == [producer[stats.id]]
    executions = store.get_executions_by_id([producer[examples.id], producer[stats.id]])
    assert all(e.last_known_state == metadata_store_pb2.Execution.COMPLETE for e in executions)
    import tensorflow_data_validation as tfdv

    for split, count in (("train", 1000), ("eval", 297)):
        split_stats = tfdv.load_stats_binary(
            str(Path(stats.uri) / f"Split-{split}" / "FeatureStats.pb"))
        assert split_stats.datasets[0].num_examples == count


def test_default_plan_converts_image_label_and_text(data_dir):
    builder = tfds.builder("digits8", data_dir=str(data_dir))
    plan = plan_features(builder.info.features)
    assert [(p.name, p.kind) for p in plan] == [
        ("image", "float"), ("label", "int"), ("text", "bytes")]
    (example,) = tfds.as_numpy(builder.as_dataset(split="test[:1]"))
    parsed = tf.train.Example.FromString(to_example(example, plan)).features.feature
    assert example["image"].shape == (8, 8, 1)
    assert list(parsed["image"].float_list.value) == example["image"].ravel().tolist()
    label = int(example["label"])
    assert list(parsed["label"].int64_list.value) == [label]
    assert list(parsed["text"].bytes_list.value) == [WORDS[label].encode()]


def _error(**kwargs) -> str:
    kwargs.setdefault("splits", {"train": "train", "test": "eval"})
    with pytest.raises(DlpipeError) as info:
        resolve_source(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_name_lists_close_names(data_dir):
    message = _error(dataset="mnits", data_dir=str(data_dir))
    assert "Unknown TFDS dataset 'mnits'" in message
    assert "Close names: mnist" in message
    assert str(data_dir) in message
    assert "digits8" in _error(dataset="digits88", data_dir=str(data_dir))


def test_unprepared_dataset_names_data_dir_and_manual_preparation(tmp_path):
    # mnist is registered with TFDS but nothing is prepared here; no download is tried.
    message = _error(dataset="mnist", data_dir=str(tmp_path))
    assert "'mnist/3.0.1' is not prepared in data_dir" in message
    assert str(tmp_path) in message
    assert "download=False" in message
    assert "tfds.builder('mnist', data_dir=DIR).download_and_prepare()" in message
    assert f"copy DIR/mnist/3.0.1 to {tmp_path / 'mnist' / '3.0.1'};" in message
    assert not (tmp_path / "mnist").exists()


def test_failed_download_says_so(tmp_path):
    message = _error(dataset="manual_digits8", data_dir=str(tmp_path), download=True,
                     manual_dir=str(tmp_path / "nothing_here"))
    assert message.startswith("Cannot download or prepare TFDS dataset 'manual_digits8/1.0.0'")
    assert str(tmp_path) in message
    assert "download_and_prepare()" in message


def test_unknown_version_split_and_feature(data_dir):
    message = _error(dataset="digits8", version="9.9.9", data_dir=str(data_dir))
    assert message.startswith("Cannot load TFDS dataset 'digits8:9.9.9'")
    assert message.endswith("(versions: 1.0.0).")
    message = _error(dataset="digits8", data_dir=str(data_dir),
                     splits={"train": "train", "validation": "eval"})
    assert "has no split 'validation'" in message
    assert "test (297), train (1500)" in message
    message = _error(dataset="digits8", data_dir=str(data_dir),
                     feature_map={"image": "image", "digit": "label"})
    assert "'digit'" in message and "image, label, text" in message


def test_executor_checks_before_writing(tmp_path, data_dir):
    from tfx.types import standard_artifacts

    from components.tfds_example_gen.component import TfdsExampleGen
    from components.tfds_example_gen.executor import Executor

    component = TfdsExampleGen(dataset="mnits", data_dir=str(data_dir))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    with pytest.raises(DlpipeError, match="Close names: mnist"):
        Executor().Do({}, {"examples": [examples]}, dict(component.exec_properties))
    assert not (tmp_path / "examples").exists()


def test_component_arguments():
    from tfx.proto import example_gen_pb2

    from components.tfds_example_gen.component import TfdsExampleGen

    component = TfdsExampleGen(dataset="mnist")
    splits = json.loads(component.exec_properties["input_config"])["splits"]
    assert splits == [{"name": "train", "pattern": "train"}, {"name": "eval", "pattern": "test"}]
    assert component.exec_properties["download"] == 0
    with pytest.raises(DlpipeError, match="distinct, non-empty output split names"):
        TfdsExampleGen(dataset="mnist", splits={"train": "train", "test": "train"})
    hashed = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))
    TfdsExampleGen(dataset="mnist", splits={"train+test": "all"}, output_config=hashed)
    with pytest.raises(DlpipeError, match="more than one split"):
        TfdsExampleGen(dataset="mnist", output_config=hashed)


def test_driver_fingerprints_only_prepared_datasets(tmp_path, data_dir):
    from components.tfds_example_gen.component import TfdsExampleGen
    from components.tfds_example_gen.executor import Driver

    def fingerprint(dataset: str, root: Path) -> str | None:
        component = TfdsExampleGen(dataset=dataset, data_dir=str(root))
        resolved = Driver(None).resolve_exec_properties(
            dict(component.exec_properties), None, None)
        assert resolved["span"] == 0
        return resolved["input_fingerprint"]

    assert fingerprint("digits8", data_dir).startswith("split:digits8/1.0.0,num_files:")
    assert fingerprint("mnist", tmp_path) is None  # the executor reports "not prepared"
