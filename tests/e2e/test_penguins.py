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

from dlpipe import contract
from pipeline.config import CONFIG_DIR
from tests.e2e.helpers import dlpipe_run, eval_table, node_states, run_task, serving_inputs

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
def task(run):
    _, run_id, config = run
    return run_task(config, run_id)


@pytest.fixture(scope="module")
def eval_rows(run, task) -> tuple[list[bytes], dict[str, np.ndarray], np.ndarray]:
    """The held-out eval split: serialized examples, serving_default's columns (NaN / ""
    where a value is missing) and the class ids of the species."""
    _, _, config = run
    serialized, columns, labels = eval_table(config, task)
    return serialized, columns, np.asarray([task.classes.index(s) for s in labels])


@pytest.fixture(scope="module")
def loaded(run):
    _, _, config = run
    return tf.saved_model.load(str(config.serving_model_dir / "1"))


def test_the_task_is_resolved_from_the_data(task):
    """Species are strings in the CSV; classes are their sorted names; the rule types the
    columns: strings categorical, measurements numeric; year ignored by the config."""
    assert task.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert set(task.categorical) == {"island", "sex"}
    assert set(task.numeric) == {"bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                                 "body_mass_g"}


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


def test_held_out_accuracy_with_missing_values(loaded, task, eval_rows):
    serialized, columns, labels = eval_rows
    incomplete = sum(
        1 for i in range(len(labels))
        if any(columns[k][i] == "" for k in task.categorical)
        or any(math.isnan(columns[k][i]) for k in task.numeric)
    )
    assert incomplete > 0, "the eval split should hold rows with missing values"
    out = loaded.signatures[contract.SERVING_SIGNATURE](**serving_inputs(columns))
    predicted = out[contract.CLASS_ID_OUTPUT].numpy()
    accuracy = float(np.mean(predicted == labels))
    print(f"penguins held-out accuracy: {accuracy:.4f} on {len(labels)} rows "
          f"({incomplete} with missing values)")
    assert accuracy >= 0.95, accuracy
    # The Classify signature (TFMA's) reads the same rows as tf.Examples: same answers.
    scores = loaded.signatures[contract.CLASSIFY_SIGNATURE](inputs=tf.constant(serialized))
    np.testing.assert_allclose(scores["scores"].numpy(),
                               out[contract.PROBABILITIES_OUTPUT].numpy(), atol=1e-6)


def test_feature_dict_in_process_and_over_rest(run, task, loaded):
    from serving.server import ModelServer, ServerOptions

    _, _, config = run
    inputs = {k: tf.constant([v]) for k, v in ROW.items()}
    want = loaded.signatures[contract.SERVING_SIGNATURE](**inputs)
    probabilities = want[contract.PROBABILITIES_OUTPUT].numpy()[0]
    assert math.isclose(float(probabilities.sum()), 1.0, rel_tol=1e-5)
    assert want[contract.CLASS_NAME_OUTPUT].numpy()[0] == b"Gentoo"

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
    np.testing.assert_allclose(predictions[0][contract.PROBABILITIES_OUTPUT], probabilities,
                               atol=1e-6)
    assert predictions[0][contract.CLASS_ID_OUTPUT] == int(
        want[contract.CLASS_ID_OUTPUT].numpy()[0])
    assert predictions[1][contract.CLASS_NAME_OUTPUT] == "Gentoo"


def test_edge_files_match_the_saved_model(run, task, loaded, eval_rows):
    from ai_edge_litert.interpreter import Interpreter

    _, _, config = run
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == set(config.edge.formats)
    assert metadata["input"]["name"] == task.model_input
    # 4 z-scored measurements + island (3 islands + 1 slot) + sex (2 sexes + 1 slot).
    assert metadata["input"]["shape"] == [None, 4 + 4 + 3]
    assert "body_mass_g: (x - " in metadata["input"]["normalization"]
    for entry in metadata["formats"].values():
        assert Path(edge_dir / entry["file"]).is_file()
    assert (edge_dir / "labels.txt").read_text().split() == list(task.classes)

    serialized, _, _ = eval_rows
    vectors = loaded.signatures[contract.TRANSFORM_SIGNATURE](
        **{contract.TRANSFORM_INPUT: tf.constant(serialized)})[task.model_input].numpy()
    want = loaded.signatures[contract.EDGE_SIGNATURE](
        **{task.model_input: tf.constant(vectors)})[contract.PROBABILITIES_OUTPUT].numpy()
    interpreter = Interpreter(model_path=str(edge_dir / metadata["formats"]["float32"]["file"]))
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], vectors.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], vectors.astype(np.float32))
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(outp["index"]), want, atol=1e-4)
