"""End to end on the bundled digits: the real CLI, real TFX components, MLMD, Beam, push.

The runs share one output root and build on each other, in this order:
1. cold run: every component executes once, the model is blessed and pushed as version 1;
2. the same run again: cached executions, no new version;
3. a forced worse model (1 training step): not blessed, not pushed;
4. data with planted anomalies: stops at validation, nothing pushed.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.pusher.push import versions
from dlpipe import contract
from dlpipe.examples import image_example, write_records
from pipeline.config import load_config
from tests.e2e.helpers import dlpipe_run, eval_split, node_states, run_task

pytestmark = pytest.mark.e2e

EXPECTED_NODES = {
    "ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
    "ValidationGate", "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator",
    "InfraValidator", "Pusher", "EdgeExport", "EdgePusher",
}
COMPLETE, CACHED = 3, 5  # ml_metadata Execution.State


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def first(cli, root):
    return dlpipe_run(cli, root)


@pytest.fixture(scope="module")
def cli(root):
    """The CLI with the runs' own temporary directory (``TMPDIR``), ``root/tmp``."""
    from tests.conftest import run_cli

    (root / "tmp").mkdir()
    return functools.partial(run_cli, env={"TMPDIR": str(root / "tmp")})


def test_cold_run_executes_every_component_blesses_and_pushes(first):
    result, run_id, config = first
    assert result.returncode == 0, result.stdout + result.stderr
    states = node_states(config, run_id)
    assert set(states) == EXPECTED_NODES
    for node, execs in states.items():
        assert execs == [COMPLETE], (node, execs)
    assert "blessed:  yes" in result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    # Progress: one line per component with its state and duration.
    assert re.search(r"\[ ?\d+/13\] Trainer\s+executed\s+\d+\.\d s", result.stdout)
    # The resolved config and the log are saved with the run; TensorBoard logs are written.
    run_dir = config.pipeline_root / "_runs" / run_id
    assert load_config(run_dir / "config.yaml").train == config.train
    assert (run_dir / "pipeline.log").stat().st_size > 0
    assert list(config.pipeline_root.glob("Trainer/model_run/*/train/events.out.tfevents.*"))


def test_beam_components_leave_no_tfx_package_in_the_temporary_directory(first, root):
    """TFX builds a 49 MB sdist of itself into a new temporary directory for each Beam-based
    component unless a dependency flag is given (pipeline/beam/options.py), and never
    deletes it: the DirectRunner's runs must not."""
    result, _, _ = first
    assert result.returncode == 0, result.stdout + result.stderr
    left = sorted(str(p.relative_to(root)) for p in (root / "tmp").glob("*/build/tfx"))
    assert left == [], left


def test_pushed_model_serves_raw_pixels_and_tf_examples(first):
    _, run_id, config = first
    version_dir = config.serving_model_dir / "1"
    assert versions(config.serving_model_dir) == [1]
    loaded = tf.saved_model.load(str(version_dir))
    assert {contract.SERVING_SIGNATURE, contract.CLASSIFY_SIGNATURE,
            contract.EDGE_SIGNATURE} <= set(loaded.signatures)

    task = run_task(config, run_id)
    images, labels = eval_split(config, task)
    serve = loaded.signatures[contract.SERVING_SIGNATURE]
    out = serve(image=tf.constant(images, tf.float32))
    accuracy = float(np.mean(out[contract.CLASS_ID_OUTPUT].numpy() == labels))
    assert accuracy >= 0.90, accuracy
    class_ids = out[contract.CLASS_ID_OUTPUT].numpy()
    np.testing.assert_array_equal(
        np.argmax(out[contract.PROBABILITIES_OUTPUT].numpy(), axis=1), class_ids)
    # serving_default names the class too (the label's values, sorted: "0".."9").
    assert [n.decode() for n in out[contract.CLASS_NAME_OUTPUT].numpy()] == [
        task.classes[i] for i in class_ids]

    # The tf.Example signature gives the same answers and is a Classify signature.
    serialized = [image_example(img.reshape(-1), 0, task.image, "unused")
                  for img in images[:16]]
    classified = loaded.signatures[contract.CLASSIFY_SIGNATURE](inputs=tf.constant(serialized))
    np.testing.assert_allclose(classified["scores"].numpy(),
                               out[contract.PROBABILITIES_OUTPUT].numpy()[:16], atol=1e-6)
    assert classified["classes"].numpy()[0].tolist() == [str(d).encode() for d in range(10)]
    from tensorflow.core.protobuf import saved_model_pb2

    meta = saved_model_pb2.SavedModel.FromString(
        (version_dir / "saved_model.pb").read_bytes()).meta_graphs[0]
    assert meta.signature_def["classify"].method_name == "tensorflow/serving/classify"
    assert meta.signature_def["serving_default"].method_name == "tensorflow/serving/predict"


def test_pushed_model_answers_over_rest_and_grpc(first, tmp_path, capsys):
    """The embedded server loads the deployment the push step wrote (models.config)."""
    from serving.client import GrpcClient, RestClient
    from serving.config import read_models_config
    from serving.server import ModelServer, ServerOptions

    _, run_id, config = first
    models_config = config.serving_root / "models.config"
    assert [c.name for c in read_models_config(models_config).model_config_list.config] == [
        config.push.model_name]
    for name in ("docker-compose.yml", "batching_parameters.pbtxt", "monitoring.config"):
        assert (config.serving_root / name).is_file(), name
    images, labels = eval_split(config, run_task(config, run_id))
    images, labels = images[:64], labels[:64]
    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(models_config))).start()
    try:
        rest = RestClient(port=server.rest_port)
        assert rest.status("digits")["model_version_status"][0]["state"] == "AVAILABLE"
        predictions = rest.predict("digits", instances=images.tolist())["predictions"]
        rest_classes = np.array([p["class_id"] for p in predictions])
        assert np.mean(rest_classes == labels) >= 0.90
        grpc = GrpcClient(port=server.grpc_port)
        out = grpc.predict("digits", {"image": images.astype(np.float32)})
        np.testing.assert_array_equal(out["class_id"], rest_classes)
        grpc.close()
        rest.close()
        _predict_png_files(server, images[:2], tmp_path, capsys)
    finally:
        server.stop()


def _predict_png_files(server, images, tmp_path, capsys):
    """`dlpipe predict digit.png` sends the file to `predict_image`, which maps the PNG's
    0..255 onto the 0..16 the model learned: the answer is serving_default's on those
    pixels, over REST and gRPC, with no --pixel_max."""
    import json

    from PIL import Image

    from pipeline import cli
    from serving.client import RestClient

    rest = RestClient(port=server.rest_port)
    for i, image in enumerate(images):
        levels = np.round(image[..., 0] * 255 / 16).astype(np.uint8)
        Image.fromarray(levels, mode="L").save(tmp_path / f"{i}.png")
        want = rest.predict("digits", instances=[(levels[..., None] / 255 * 16).tolist()])[
            "predictions"][0]
        for protocol in (["--port", str(server.rest_port)],
                         ["--grpc", "--port", str(server.grpc_port)]):
            code = cli.main(["predict", "--model", "digits", "--input",
                             str(tmp_path / f"{i}.png"), *protocol])
            out = capsys.readouterr()
            assert code == 0, out.err
            answer = json.loads(out.out)
            got = (answer["predictions"][0] if "predictions" in answer else
                   {k: v[0] for k, v in answer["outputs"].items()})
            assert got["class_name"] == want["class_name"]
            np.testing.assert_allclose(got["probabilities"], want["probabilities"],
                                       rtol=1e-5, atol=1e-6)
    rest.close()


def test_edge_files_pushed_beside_the_served_version(first):
    import json

    from ai_edge_litert.interpreter import Interpreter

    _, run_id, config = first
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == set(config.edge.formats)
    assert not metadata["needs_flex"]
    assert (edge_dir / "labels.txt").read_text().split() == [str(d) for d in range(10)]
    images, labels = eval_split(config, run_task(config, run_id))
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["int8"]["file"]))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    predicted = []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None].astype(np.float32))
        interpreter.invoke()
        predicted.append(int(np.argmax(interpreter.get_tensor(out["index"])[0])))
    assert np.mean(np.array(predicted) == labels) >= 0.90


def test_edge_config_keys_reach_the_edge_files(first, tmp_path):
    """edge.author, edge.license and edge.rgb_input through the factory's EdgeExport node, run
    by its executor on the first run's own model, blessing and examples (read from ML
    Metadata): the metadata says who and under which license, the input is RGB."""
    from ai_edge_litert.interpreter import Interpreter
    from ml_metadata.proto import metadata_store_pb2
    from tfx.types import artifact_utils

    from components.edge_export import tflite_metadata
    from components.edge_export.artifacts import EdgeModels, EdgeReport
    from components.edge_export.executor import Executor
    from pipeline.pipeline import create_pipeline
    from pipeline.summary import executions_by_node, metadata_store
    from tests.edge.task_library import task_library_missing

    _, run_id, config = first
    edge_keys = load_config(overrides=[
        f"output_root={config.root}", "edge.author=Digits Team <digits@example.com>",
        "edge.license=Apache-2.0", "edge.rgb_input=true", "edge.formats=[float32]"])
    node = {c.id: c for c in create_pipeline(edge_keys, run_task(config, run_id)).components}[
        "EdgeExport"]
    store = metadata_store(config)
    [execution] = executions_by_node(store, run_id)["EdgeExport"]
    inputs: dict[str, list] = {}
    for event in store.get_events_by_execution_ids([execution.id]):
        if event.type == metadata_store_pb2.Event.INPUT:
            [artifact] = store.get_artifacts_by_id([event.artifact_id])
            [kind] = store.get_artifact_types_by_id([artifact.type_id])
            inputs.setdefault(event.path.steps[0].key, []).append(
                artifact_utils.deserialize_artifact(kind, artifact))
    outputs = {"edge_models": [EdgeModels()], "edge_report": [EdgeReport()]}
    outputs["edge_models"][0].uri = str(tmp_path / "edge_models")
    outputs["edge_report"][0].uri = str(tmp_path / "edge_report")
    Executor().Do(inputs, outputs, dict(node.exec_properties))

    model = tmp_path / "edge_models" / "model_float32.tflite"
    interpreter = Interpreter(model_path=str(model))
    assert interpreter.get_input_details()[0]["shape"].tolist() == [1, 8, 8, 3]
    if not task_library_missing():
        general = tflite_metadata.read(model.read_bytes())["metadata"]
        assert general["author"] == "Digits Team <digits@example.com>"
        assert general["license"] == "Apache-2.0"


def test_second_run_reuses_cache_and_pushes_nothing_new(cli, root, first):
    result, run_id, config = dlpipe_run(cli, root)
    assert result.returncode == 0, result.stdout + result.stderr
    states = node_states(config, run_id)
    for node in ("ImportExampleGen", "StatisticsGen", "Transform", "Trainer"):
        assert states[node] == [CACHED], (node, states[node])
    assert "already serving as version 1" in result.stdout
    assert versions(config.serving_model_dir) == [1]


def test_worse_model_is_not_blessed_or_pushed(cli, root, first):
    result, run_id, config = dlpipe_run(cli, root, "train.train_steps=1", "train.epochs=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  NO (" in result.stdout
    assert "sparse_categorical_accuracy" in result.stdout.split("blessed:  NO", 1)[1]
    assert "pushed:   no (the model was not blessed)" in result.stdout
    assert versions(config.serving_model_dir) == [1]
    assert node_states(config, run_id)["Trainer"] == [COMPLETE]


def test_planted_anomalies_stop_the_run_before_transform(cli, root, first, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    records = []
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        if i % 50 == 0:
            label = 42  # out of the label domain 0..9
        example = tf.train.Example.FromString(
            image_example(image.reshape(-1), label))
        if i % 50 == 1:
            del example.features.feature["image"]  # a missing feature
        records.append(example.SerializeToString())
    write_records(tmp_path / "bad.tfrecord.gz", records)

    result, run_id, config = dlpipe_run(
        cli, root, "ingest.kind=tfrecord", f"ingest.path={tmp_path}")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "Data validation failed" in result.stdout
    report = result.stdout.split("Data validation failed", 1)[1]
    assert re.search(r"label\s+INT_TYPE_BIG_INT\s+Unexpectedly large value: 42", report), report
    assert re.search(r"image\s+FEATURE_TYPE_LOW_FRACTION_PRESENT", report), report
    states = node_states(config, run_id)
    assert "Transform" not in states and "Trainer" not in states and "Pusher" not in states
    assert versions(config.serving_model_dir) == [1]
