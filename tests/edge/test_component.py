"""EdgeExport and EdgePusher in a tiny TFX pipeline: artifacts, lineage in ML Metadata, push."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.e2e


def write_examples(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Writes gzipped tf.Example TFRecords as ExampleGen does (flat float ``image``, ``label``)."""
    import tensorflow as tf

    path.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path / "data_tfrecord-00000-of-00001.gz"), "GZIP") as w:
        for image, label in zip(x, y, strict=True):
            feature = {
                "image": tf.train.Feature(float_list=tf.train.FloatList(value=image.ravel())),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }
            w.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )


@pytest.fixture(scope="module")
def tfx_inputs(tmp_path_factory, cnn_saved_model, digits) -> dict[str, Path]:
    """Directories laid out like the Trainer's Model and ExampleGen's Examples artifacts."""
    root = tmp_path_factory.mktemp("tfx_inputs")
    shutil.copytree(cnn_saved_model, root / "model" / "Format-Serving")
    write_examples(
        root / "examples" / "Split-train", digits["x_train"][:300], digits["y_train"][:300]
    )
    write_examples(root / "examples" / "Split-eval", digits["x_eval"], digits["y_eval"])
    (root / "blessing").mkdir()
    return {"model": root / "model", "examples": root / "examples", "blessing": root / "blessing"}


def test_pipeline_registers_edge_artifacts_with_lineage_and_pushes(tmp_path, tfx_inputs):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.dsl.components.common.importer import Importer
    from tfx.orchestration import metadata, pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.types import standard_artifacts

    from components.edge_export.component import EdgeExport
    from components.edge_pusher.component import EdgePusher

    model = Importer(
        source_uri=str(tfx_inputs["model"]), artifact_type=standard_artifacts.Model
    ).with_id("model_importer")
    blessing = Importer(
        source_uri=str(tfx_inputs["blessing"]),
        artifact_type=standard_artifacts.ModelBlessing,
        custom_properties={"blessed": 1},
    ).with_id("blessing_importer")
    examples = Importer(
        source_uri=str(tfx_inputs["examples"]),
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": '["train", "eval"]'},
    ).with_id("examples_importer")
    edge_export = EdgeExport(
        model=model.outputs["result"],
        model_blessing=blessing.outputs["result"],
        examples=examples.outputs["result"],
        formats="float32,int8,onnx",
        gate_overrides=json.dumps({"onnx": {"max_abs": 0.0, "max_accuracy_drop": None}}),
        latency_runs=20,
    )
    edge_root = tmp_path / "edge"
    edge_pusher = EdgePusher(
        edge_models=edge_export.outputs["edge_models"],
        edge_root=str(edge_root),
        model_name="digits",
        version=7,
    )
    db = tmp_path / "mlmd.sqlite"
    LocalDagRunner().run(
        pipeline.Pipeline(
            pipeline_name="edge_test",
            pipeline_root=str(tmp_path / "root"),
            components=[model, blessing, examples, edge_export, edge_pusher],
            metadata_connection_config=metadata.sqlite_metadata_connection_config(str(db)),
        )
    )

    # Files: ONNX was forced to fail (max_abs 0), so only float32 and int8 are pushed.
    pushed = edge_root / "digits" / "7"
    assert sorted(p.name for p in pushed.iterdir()) == [
        "labels.txt",
        "metadata.json",
        "model_float32.tflite",
        "model_int8.tflite",
    ]

    # ML Metadata: the edge artifacts are outputs of the EdgeExport execution, whose inputs
    # are the model, blessing and examples (lineage); the push is recorded too.
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(str(db)))
    from components.edge_export.artifacts import EdgeModels, EdgeReport

    (edge_models,) = store.get_artifacts_by_type(EdgeModels.TYPE_NAME)
    (report,) = store.get_artifacts_by_type(EdgeReport.TYPE_NAME)
    assert edge_models.custom_properties["blessed_formats"].string_value == "float32,int8"
    assert report.custom_properties["all_blessed"].int_value == 0
    report_json = json.loads((Path(report.uri) / "edge_report.json").read_text())
    onnx = next(r for r in report_json["formats"] if r["format"] == "onnx")
    assert onnx["gate_failures"][0].startswith("max_abs ")

    events = store.get_events_by_artifact_ids([edge_models.id])
    (producer,) = [e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    inputs = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([producer])
        if e.type == metadata_store_pb2.Event.INPUT
    ]
    input_types = {
        store.get_artifact_types_by_id([a.type_id])[0].name
        for a in store.get_artifacts_by_id(inputs)
    }
    assert input_types == {"Model", "ModelBlessing", "Examples"}
    (pushed_model,) = store.get_artifacts_by_type("PushedModel")
    assert pushed_model.custom_properties["pushed"].int_value == 1
    assert pushed_model.custom_properties["pushed_version"].string_value == "7"


def test_unblessed_model_is_not_converted(tmp_path, tfx_inputs):
    from tfx.types import standard_artifacts

    from components.edge_export.artifacts import EdgeModels, EdgeReport
    from components.edge_export.executor import Executor

    def artifact(cls, uri, **custom):
        a = cls()
        a.uri = str(uri)
        for k, v in custom.items():
            a.set_int_custom_property(k, v)
        return a

    model = artifact(standard_artifacts.Model, tfx_inputs["model"])
    blessing = artifact(standard_artifacts.ModelBlessing, tfx_inputs["blessing"], blessed=0)
    examples = artifact(standard_artifacts.Examples, tfx_inputs["examples"])
    examples.split_names = '["train", "eval"]'
    edge_models = artifact(EdgeModels, tmp_path / "edge_models")
    report = artifact(EdgeReport, tmp_path / "report")
    Executor().Do(
        {"model": [model], "model_blessing": [blessing], "examples": [examples]},
        {"edge_models": [edge_models], "edge_report": [report]},
        {},
    )
    data = json.loads((tmp_path / "report" / "edge_report.json").read_text())
    assert data["model_blessed"] is False and data["formats"] == []
    assert edge_models.get_int_custom_property("blessed") == 0
    assert not (tmp_path / "edge_models").exists()
