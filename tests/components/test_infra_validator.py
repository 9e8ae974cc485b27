"""InfraValidator on a model exported here: blessed when served right, not otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.model_fixtures import export_digits_model


def _write_examples(uri: Path, rows: int, feature: str = "image") -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for split in ("train", "eval"):
        path = uri / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz"
        path.parent.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(path), options="GZIP") as w:
            for _ in range(rows):
                ex = tf.train.Example()
                pixels = rng.integers(0, 17, size=64).astype(np.float32)
                ex.features.feature[feature].float_list.value.extend(pixels.tolist())
                ex.features.feature["label"].int64_list.value.append(int(rng.integers(10)))
                w.write(ex.SerializeToString())


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uri = tmp_path_factory.mktemp("trainer") / "model"
    export_digits_model(uri / "Format-Serving", seed=3)
    return uri


def _run(tmp_path: Path, model_uri: Path, feature: str = "image", **props):
    from tfx.types import artifact_utils, standard_artifacts

    from components.infra_validator.executor import Executor

    model = standard_artifacts.Model()
    model.uri = str(model_uri)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    _write_examples(Path(examples.uri), rows=12, feature=feature)
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "blessing")
    exec_properties = {"num_examples": 10, "split": "eval", "model_name": "candidate",
                       "signature_names": None, "batch_size": 4, "rtol": 1e-5, "atol": 1e-6}
    exec_properties.update(props)
    Executor().Do({"model": [model], "examples": [examples]}, {"blessing": [blessing]},
                  exec_properties)
    report = json.loads((Path(blessing.uri) / "infra_validation_report.json").read_text())
    return blessing, report


def test_model_served_correctly_is_blessed(tmp_path: Path, model_uri: Path) -> None:
    from tfx.components.util import model_utils

    blessing, report = _run(tmp_path, model_uri)
    assert report["blessed"], report["reason"]
    assert model_utils.is_infra_validated(blessing)  # what TFX's Pusher checks
    assert (Path(blessing.uri) / "INFRA_BLESSED").is_file()
    checked = {(c["name"], c["protocol"]) for c in report["checks"]}
    for sig in ("serving_default", "classify", "edge"):
        assert {(sig, "rest"), (sig, "grpc")} <= checked
    by_name = {(c["name"], c["protocol"]): c for c in report["checks"]}
    assert by_name[("classify", "grpc")]["requests"] == 3  # 10 examples in batches of 4
    assert report["num_examples"] == 10


def test_requests_that_fail_leave_the_model_unblessed(tmp_path: Path, model_uri: Path) -> None:
    # Eval data without the feature the model parses: the classify signature fails to serve.
    blessing, report = _run(tmp_path, model_uri, feature="pixels")
    assert not report["blessed"]
    assert blessing.get_int_custom_property("blessed") == 0
    assert (Path(blessing.uri) / "INFRA_NOT_BLESSED").is_file()
    assert "classify" in report["reason"]


def test_unknown_signature_is_not_blessed(tmp_path: Path, model_uri: Path) -> None:
    _, report = _run(tmp_path, model_uri, signature_names="serving_default,nope")
    assert not report["blessed"]
    assert "signature 'nope' not in the model" in report["reason"]


def test_component_wiring() -> None:
    from tfx import types
    from tfx.types import standard_artifacts

    from components.infra_validator.component import InfraValidator

    component = InfraValidator(model=types.Channel(type=standard_artifacts.Model),
                               examples=types.Channel(type=standard_artifacts.Examples),
                               num_examples=16)
    assert component.outputs["blessing"].type == standard_artifacts.InfraBlessing
    assert component.exec_properties["num_examples"] == 16
    with pytest.raises(ValueError, match="num_examples must be >= 1"):
        InfraValidator(model=types.Channel(type=standard_artifacts.Model),
                       examples=types.Channel(type=standard_artifacts.Examples), num_examples=0)
