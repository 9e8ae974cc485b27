"""ExampleGen in input order (components/input_order.py): on Beam's DirectRunner the real
executors write the same records in the same order as TFX's (whose Reshuffle keeps the order
there), with the same artifact properties; the component's own work before and after writing
is kept; the folder ExampleGens mix their files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow as tf

from components.input_order import (
    CsvExecutor,
    ImageFolderExecutor,
    ImportExecutor,
    in_input_order,
)
from tests.components.test_image_folder_example_gen import write_folder

N = 300


def _ids(split_dir: Path, key: str = "id") -> list[int]:
    files = [str(p) for p in sorted(split_dir.glob("*.gz"))]
    assert files, f"no gzipped TFRecords in {split_dir}"
    return [tf.train.Example.FromString(r.numpy()).features.feature[key].int64_list.value[0]
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _execute(component, executor_class, out: Path):
    """Runs ``executor_class`` as the orchestrator would run ``component``'s executor."""
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    executor_class().Do({}, {"examples": [examples]}, dict(component.exec_properties))
    return examples


def _splits(examples, key: str = "id") -> dict[str, list[int]]:
    from tfx.types import artifact_utils

    return {name: _ids(Path(examples.uri) / f"Split-{name}", key)
            for name in artifact_utils.decode_split_names(examples.split_names)}


def test_import_example_gen_writes_the_same_splits_in_input_order(tmp_path):
    from tfx.components import ImportExampleGen

    data = tmp_path / "data"
    data.mkdir()
    with tf.io.TFRecordWriter(str(data / "records.tfrecord")) as writer:
        for i in range(N):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))})
            ).SerializeToString())
    component = ImportExampleGen(input_base=str(data))
    shuffled = _execute(component, component.executor_spec.executor_class, tmp_path / "a")
    in_input_order(component)
    assert component.executor_spec.executor_class is ImportExecutor
    ordered = _execute(component, ImportExecutor, tmp_path / "b")

    by_tfx, in_order = _splits(shuffled), _splits(ordered)
    assert list(in_order) == ["train", "eval"]
    assert sorted(in_order["train"] + in_order["eval"]) == list(range(N))
    # TFX's Reshuffle kept the input order on this runner: the files hold the same sequence.
    assert in_order == by_tfx
    assert all(ids == sorted(ids) for ids in in_order.values())
    for key in ("payload_format", "file_format"):
        assert (ordered.get_string_custom_property(key)
                == shuffled.get_string_custom_property(key) != ""), key


def test_csv_example_gen_in_input_order_keeps_the_rows_order(tmp_path):
    from tfx.components import CsvExampleGen

    data = tmp_path / "csv"
    data.mkdir()
    (data / "rows.csv").write_text("id,x\n" + "".join(f"{i},{i / 7:.3f}\n" for i in range(N)))
    component = in_input_order(CsvExampleGen(input_base=str(data)))
    assert component.executor_spec.executor_class is CsvExecutor
    splits = _splits(_execute(component, CsvExecutor, tmp_path / "out"))
    assert sorted(splits["train"] + splits["eval"]) == list(range(N))
    assert all(ids == sorted(ids) for ids in splits.values())


def test_image_folder_in_input_order_records_its_labels_and_mixes_the_classes(tmp_path):
    from components.image_folder_example_gen.component import ImageFolderExampleGen
    from components.image_folder_example_gen.executor import Executor

    folder = write_folder(tmp_path / "digits", per_class=4)
    component = ImageFolderExampleGen(input_base=str(folder), image_shape=(8, 8, 1),
                                      resize=False)
    by_tfx = _splits(_execute(component, Executor, tmp_path / "tfx"), key="label")
    examples = _execute(in_input_order(component), ImageFolderExecutor, tmp_path / "out")
    labels = json.loads(examples.get_string_custom_property("labels"))
    assert (Path(examples.uri) / "labels.txt").read_text().split("\n")[:-1] == labels
    splits = _splits(examples, key="label")
    assert sorted(splits["train"] + splits["eval"]) == sorted(list(range(10)) * 4)
    assert splits == by_tfx
    # The folder is listed class by class; the files are read in a mixed order.
    assert splits["train"] != sorted(splits["train"])


def test_every_ingest_readers_example_gen_has_an_input_order_executor(tmp_path):
    from tfx.components import CsvExampleGen, ImportExampleGen

    from components.audio_folder_example_gen.component import AudioFolderExampleGen
    from components.image_folder_example_gen.component import ImageFolderExampleGen
    from components.input_order import InputOrderWrite
    from components.tfds_example_gen.component import TfdsExampleGen

    components = [
        CsvExampleGen(input_base=str(tmp_path)), ImportExampleGen(input_base=str(tmp_path)),
        ImageFolderExampleGen(input_base=str(tmp_path), image_shape=(8, 8, 1)),
        AudioFolderExampleGen(input_base=str(tmp_path), sample_rate=8000, clip_samples=8000),
        TfdsExampleGen(dataset="mnist"),
    ]
    for component in components:
        own = component.executor_spec.executor_class
        component.executor_spec.add_beam_pipeline_args(["--runner=DirectRunner"])
        executor = in_input_order(component).executor_spec
        assert issubclass(executor.executor_class, own)
        assert InputOrderWrite in executor.executor_class.__mro__
        assert executor.beam_pipeline_args == ["--runner=DirectRunner"]


def test_a_component_without_an_input_order_executor_is_refused():
    from tfx.components import StatisticsGen
    from tfx.types import channel_utils, standard_artifacts

    stats = StatisticsGen(examples=channel_utils.as_channel([standard_artifacts.Examples()]))
    with pytest.raises(TypeError, match="StatisticsGen's executor Executor has no input-order"):
        in_input_order(stats)
