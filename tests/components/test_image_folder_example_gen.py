"""ImageFolderExampleGen on PNG/JPEG folders written here from scikit-learn's 8x8 digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from sklearn.datasets import load_digits

from components.image_folder_example_gen.folder import ImageShape, load_image, scan_image_folder
from dlpipe.errors import DlpipeError

WORDS = "zero one two three four five six seven eight nine".split()
PER_CLASS = 20


def _digits(per_class: int = PER_CLASS) -> list[tuple[np.ndarray, int]]:
    """The first ``per_class`` digits of each class as uint8 images (0-16 scaled to 0-240)."""
    digits = load_digits()
    out = []
    for d in range(10):
        for image in digits.images[digits.target == d][:per_class]:
            out.append(((image * 15).astype(np.uint8), d))
    return out


def write_folder(root: Path, per_class: int = PER_CLASS, suffix: str = ".png",
                 size: tuple[int, int] | None = None) -> Path:
    """Writes ``root/<word>/<i><suffix>`` grey images, optionally resized to ``size`` (w, h)."""
    for i, (pixels, d) in enumerate(_digits(per_class)):
        image = Image.fromarray(pixels)
        if size:
            image = image.resize(size)
        (root / WORDS[d]).mkdir(parents=True, exist_ok=True)
        image.save(root / WORDS[d] / f"{i:04d}{suffix}")
    return root


def _read(split_dir: Path) -> list[tf.train.Example]:
    files = [str(p) for p in sorted(split_dir.glob("*.gz"))]
    assert files, f"no gzipped TFRecords in {split_dir}"
    return [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.mark.e2e
def test_pipeline_writes_labelled_splits(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from tfx.components import StatisticsGen
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.types import artifact_utils

    from components.image_folder_example_gen.component import ImageFolderExampleGen

    folder = write_folder(tmp_path / "digits")
    example_gen = ImageFolderExampleGen(input_base=str(folder), image_shape=(8, 8, 1),
                                        resize=False)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    connection = metadata.sqlite_metadata_connection_config(str(tmp_path / "mlmd.sqlite"))
    LocalDagRunner().run(pipeline.Pipeline(
        pipeline_name="image_folder_test",
        pipeline_root=str(tmp_path / "root"),
        components=[example_gen, statistics_gen],
        metadata_connection_config=connection,
    ))

    store = metadata_store.MetadataStore(connection)
    (examples,) = store.get_artifacts_by_type("Examples")
    assert artifact_utils.decode_split_names(
        examples.properties["split_names"].string_value) == ["train", "eval"]
    labels = sorted(WORDS)  # eight, five, four, nine, one, ...
    assert json.loads(examples.custom_properties["labels"].string_value) == labels
    assert json.loads(examples.custom_properties["image_shape"].string_value) == [8, 8, 1]
    assert (Path(examples.uri) / "labels.txt").read_text().split("\n")[:-1] == labels
    # The driver fingerprinted every image file (a changed folder is read again).
    assert f"num_files:{10 * PER_CLASS}," in examples.custom_properties[
        "input_fingerprint"].string_value

    train = _read(Path(examples.uri) / "Split-train")
    eval_ = _read(Path(examples.uri) / "Split-eval")
    assert len(train) + len(eval_) == 10 * PER_CLASS
    assert 0.5 < len(train) / (10 * PER_CLASS) < 0.8  # TFX's default 2:1 hash split
    # Every image round-trips exactly (PNG is lossless, no resize) with its class's label.
    written = sorted((tuple(e.features.feature["image"].float_list.value),
                      e.features.feature["label"].int64_list.value[0]) for e in train + eval_)
    expected = sorted((tuple(pixels.ravel().astype(float)), labels.index(WORDS[d]))
                      for pixels, d in _digits())
    assert written == expected
    (stats,) = store.get_artifacts_by_type("ExampleStatistics")
    assert (Path(stats.uri) / "Split-eval" / "FeatureStats.pb").is_file()


def test_executor_resizes_mixed_sizes_to_rgb(tmp_path):
    from tfx.types import standard_artifacts

    from components.image_folder_example_gen.component import ImageFolderExampleGen
    from components.image_folder_example_gen.executor import Executor

    folder = write_folder(tmp_path / "digits", per_class=3, suffix=".jpg", size=(10, 12))
    write_folder(tmp_path / "digits", per_class=1, suffix=".png")  # 8x8 beside the 10x12
    component = ImageFolderExampleGen(input_base=str(folder), image_shape=(16, 16, 3))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    Executor().Do({}, {"examples": [examples]}, dict(component.exec_properties))

    written = _read(Path(examples.uri) / "Split-train") + _read(Path(examples.uri) / "Split-eval")
    assert len(written) == 40
    for example in written:
        pixels = np.array(example.features.feature["image"].float_list.value).reshape(16, 16, 3)
        assert np.array_equal(pixels[..., 0], pixels[..., 2])  # grey source: R == G == B
    one = folder / "zero" / "0000.jpg"
    expected = np.asarray(Image.open(one).convert("RGB").resize((16, 16), Image.BILINEAR),
                          dtype=np.float32)
    assert np.array_equal(load_image(str(one), ImageShape(16, 16, 3)), expected)
    assert json.loads(examples.get_string_custom_property("class_counts"))["zero"] == 4


def _error(root: Path, resize: bool = True) -> str:
    with pytest.raises(DlpipeError) as info:
        scan_image_folder(root, (8, 8, 1), resize=resize)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_folders_are_named(tmp_path):
    assert f"Image folder {tmp_path / 'nope'} does not exist" in _error(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert "has no class subfolders" in _error(tmp_path / "empty")

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(flat / "a.png")
    assert "holds images directly (a.png)" in _error(flat)

    folder = write_folder(tmp_path / "digits", per_class=2)
    (folder / "ten").mkdir()
    (folder / "ten" / "notes.txt").write_text("no images here")
    message = _error(folder)
    assert f"Class folder {folder / 'ten'} holds no PNG or JPEG images" in message
    assert "1 other entries" in message


def test_mixed_sizes_without_resize(tmp_path):
    folder = write_folder(tmp_path / "digits", per_class=2)
    assert scan_image_folder(folder, (8, 8, 1), resize=False).counts()["nine"] == 2
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(folder / "one" / "wide.png")
    message = _error(folder, resize=False)
    assert "must all be 8x8" in message and "resizing is off" in message
    assert f"8x9 (e.g. {folder / 'one' / 'wide.png'})" in message
    assert len(scan_image_folder(folder, (8, 8, 1), resize=True).files) == 21


def test_unreadable_image_is_named_before_beam(tmp_path):
    from tfx.types import standard_artifacts

    from components.image_folder_example_gen.component import ImageFolderExampleGen
    from components.image_folder_example_gen.executor import Executor

    folder = write_folder(tmp_path / "digits", per_class=2)
    bad = folder / "three" / "broken.png"
    bad.write_bytes(b"not a png")
    assert f"Cannot read image {bad}" in _error(folder)
    truncated = folder / "four" / "truncated.png"
    good = sorted((folder / "four").glob("*.png"))[0]
    truncated.write_bytes(good.read_bytes()[:40])
    bad.unlink()
    assert f"Cannot read image {truncated}" in _error(folder)

    component = ImageFolderExampleGen(input_base=str(folder), image_shape=(8, 8, 1))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    with pytest.raises(DlpipeError, match="Cannot read image"):
        Executor().Do({}, {"examples": [examples]}, dict(component.exec_properties))
    assert not (tmp_path / "examples").exists()


def test_component_arguments():
    from components.image_folder_example_gen.component import ImageFolderExampleGen

    for shape in [(8, 8), (8, 8, 2), (0, 8, 1), "8,8,1"]:
        with pytest.raises(DlpipeError, match="image_shape must be"):
            ImageFolderExampleGen(input_base="x", image_shape=shape)
    with pytest.raises(DlpipeError, match="two different non-empty names"):
        ImageFolderExampleGen(input_base="x", image_shape=(8, 8, 1), label_key="image")


def test_driver_checks_the_folder_before_fingerprinting(tmp_path):
    from components.image_folder_example_gen.component import ImageFolderExampleGen
    from components.image_folder_example_gen.executor import Driver

    def resolve(folder: Path) -> dict:
        component = ImageFolderExampleGen(input_base=str(folder), image_shape=(8, 8, 1))
        return Driver(None).resolve_exec_properties(dict(component.exec_properties), None, None)

    with pytest.raises(DlpipeError, match=f"Image folder {tmp_path / 'nope'} does not exist"):
        resolve(tmp_path / "nope")
    folder = write_folder(tmp_path / "digits", per_class=1)
    assert "num_files:10," in resolve(folder)["input_fingerprint"]
