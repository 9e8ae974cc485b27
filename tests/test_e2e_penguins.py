"""End to end on the bundled Palmer penguins: CSV ingest, Transform, a Keras MLP, push, edge.

One cold run of the real CLI with pipeline/configs/penguins_mlp.yaml: every component
executes, the model is blessed and pushed as version 1, classifies the held-out rows
(missing values included) with accuracy >= 0.95 through its pushed SavedModel, answers a
feature dict in-process and over the embedded server's REST API, and its float32 TFLite file
matches the SavedModel on the transformed eval rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import requests
import tensorflow as tf

from models.penguins import features
from pipeline.config import CONFIG_DIR
from tests.e2e_helpers import dlpipe_run, node_states

pytestmark = pytest.mark.e2e

EXPECTED_NODES = {
    "CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "InfraValidator",
    "Pusher", "EdgeExport", "EdgePusher",
}
COMPLETE = 3  # ml_metadata Execution.State
ROW = {"island": "Biscoe", "sex": "", "bill_length_mm": 47.5, "bill_depth_mm": 15.0,
       "flipper_length_mm": 218.0, "body_mass_g": 4950.0}
"""A Gentoo-like penguin whose sex was not recorded."""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("penguins")
    return dlpipe_run(run_cli, root, config_file=CONFIG_DIR / "penguins_mlp.yaml")


@pytest.fixture(scope="module")
def eval_rows(run) -> tuple[list[bytes], dict[str, np.ndarray], np.ndarray]:
    """The held-out eval split ExampleGen wrote: serialized examples, serving_default's
    columns (NaN / "" where a value is missing) and the labels."""
    _, _, config = run
    files = sorted(config.pipeline_root.glob("CsvExampleGen/examples/*/Split-eval/*"))
    assert files, "ExampleGen wrote no eval split"
    serialized = [r.numpy() for r in tf.data.TFRecordDataset([str(f) for f in files],
                                                            compression_type="GZIP")]
    columns: dict[str, list] = {k: [] for k in features.FEATURE_KEYS}
    labels = []
    for record in serialized:
        feats = tf.train.Example.FromString(record).features.feature
        for key in features.CATEGORICAL_KEYS:
            values = feats[key].bytes_list.value
            columns[key].append(values[0].decode() if values else features.MISSING_STRING)
        for key in features.NUMERIC_KEYS:
            values = feats[key].float_list.value or feats[key].int64_list.value
            columns[key].append(float(values[0]) if values else features.MISSING_NUMBER)
        labels.append(feats[features.LABEL_KEY].int64_list.value[0])
    arrays = {k: np.asarray(v, dtype=object if k in features.CATEGORICAL_KEYS else np.float32)
              for k, v in columns.items()}
    return serialized, arrays, np.asarray(labels)


@pytest.fixture(scope="module")
def loaded(run):
    _, _, config = run
    return tf.saved_model.load(str(config.serving_model_dir / "1"))


def test_run_executes_every_component_blesses_and_pushes(run):
    result, run_id, config = run
    assert result.returncode == 0, result.stdout + result.stderr
    states = node_states(config, run_id)
    assert set(states) == EXPECTED_NODES
    for node, execs in states.items():
        assert execs == [COMPLETE], (node, execs)
    assert "blessed:  yes" in result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    assert (config.serving_model_dir / "1" / "saved_model.pb").is_file()
    # The model card names the real source and what a client sends (raw named features).
    card = (config.serving_model_dir / "model_cards" / "1.md").read_text()
    assert "Palmer penguins" in card and "`island`" in card and "`transform_features`" in card


def test_held_out_accuracy_with_missing_values(loaded, eval_rows):
    serialized, columns, labels = eval_rows
    incomplete = sum(
        1 for i in range(len(labels))
        if any(columns[k][i] == "" for k in features.CATEGORICAL_KEYS)
        or any(math.isnan(columns[k][i]) for k in features.NUMERIC_KEYS)
    )
    assert incomplete > 0, "the eval split should hold rows with missing values"
    out = loaded.signatures[features.SERVING_SIGNATURE](
        **{k: tf.constant(v.tolist() if v.dtype == object else v) for k, v in columns.items()})
    predicted = out[features.CLASS_ID].numpy()
    accuracy = float(np.mean(predicted == labels))
    print(f"penguins held-out accuracy: {accuracy:.4f} on {len(labels)} rows "
          f"({incomplete} with missing values)")
    assert accuracy >= 0.95, accuracy
    # The Classify signature (TFMA's) reads the same rows as tf.Examples: same answers.
    scores = loaded.signatures[features.EXAMPLES_SIGNATURE](inputs=tf.constant(serialized))
    np.testing.assert_allclose(scores["scores"].numpy(),
                               out[features.PROBABILITIES].numpy(), atol=1e-6)


def test_feature_dict_in_process_and_over_rest(run, loaded):
    from serving.server import ModelServer, ServerOptions

    _, _, config = run
    inputs = {k: tf.constant([v]) for k, v in ROW.items()}
    want = loaded.signatures[features.SERVING_SIGNATURE](**inputs)
    probabilities = want[features.PROBABILITIES].numpy()[0]
    assert math.isclose(float(probabilities.sum()), 1.0, rel_tol=1e-5)
    assert features.CLASS_NAMES[int(want[features.CLASS_ID].numpy()[0])] == "Gentoo"

    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, host="127.0.0.1", model_name=config.push.model_name,
        model_base_path=str(config.serving_model_dir), poll_seconds=0,
    )).start()
    try:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/{config.push.model_name}:predict"
        # A measurement not taken is NaN (JSON's NaN literal, as TF Serving accepts it).
        unmeasured = dict(ROW, body_mass_g=float("nan"))
        resp = requests.post(url, data=json.dumps({"instances": [ROW, unmeasured]}), timeout=30)
        assert resp.status_code == 200, resp.text
        predictions = resp.json()["predictions"]
    finally:
        server.stop()
    np.testing.assert_allclose(predictions[0][features.PROBABILITIES], probabilities, atol=1e-6)
    assert predictions[0][features.CLASS_ID] == int(want[features.CLASS_ID].numpy()[0])
    assert features.CLASS_NAMES[predictions[1][features.CLASS_ID]] == "Gentoo"


def test_edge_files_match_the_saved_model(run, loaded, eval_rows):
    from ai_edge_litert.interpreter import Interpreter

    _, _, config = run
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == set(config.edge.formats)
    assert metadata["input"]["name"] == features.MODEL_INPUT_KEY
    assert metadata["input"]["shape"] == [None, features.MODEL_INPUT_SIZE]
    assert "body_mass_g: (x - " in metadata["input"]["normalization"]
    for entry in metadata["formats"].values():
        assert Path(edge_dir / entry["file"]).is_file()
    assert (edge_dir / "labels.txt").read_text().split() == list(features.CLASS_NAMES)

    serialized, _, _ = eval_rows
    vectors = loaded.signatures[features.TRANSFORM_SIGNATURE](
        **{features.TRANSFORM_INPUT: tf.constant(serialized)})[features.MODEL_INPUT_KEY].numpy()
    want = loaded.signatures[features.EDGE_SIGNATURE](
        **{features.MODEL_INPUT_KEY: tf.constant(vectors)})[features.PROBABILITIES].numpy()
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["float32"]["file"]))
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], vectors.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], vectors.astype(np.float32))
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(outp["index"]), want, atol=1e-4)
