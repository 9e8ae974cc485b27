"""Tabular regression end to end, by configuration alone: the penguins' body mass (g) from
their other columns (pipeline/configs/penguins_regression.yaml).

One cold run of the real CLI: blessed on TFMA's mean absolute error, pushed; the held-out MAE
is at most 0.6x that of predicting the train mean (both printed in the summary); the pushed
model answers TF Serving's Regress API over REST and gRPC (the ``regress`` signature on
tf.Examples) and Predict with the value in grams; the edge formats are gated on the error.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from pipeline.config import CONFIG_DIR
from tests.e2e.helpers import dlpipe_run, eval_table, run_task, serving_inputs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("regression")
    return dlpipe_run(run_cli, root, config_file=CONFIG_DIR / "penguins_regression.yaml")


@pytest.fixture(scope="module")
def task(run):
    _, run_id, config = run
    return run_task(config, run_id)


def test_blessed_on_mae_and_well_below_the_mean_baseline(run, task):
    result, _, config = run
    assert result.returncode == 0, result.stdout + result.stderr
    assert task.kind == "tabular_regression" and task.label == "body_mass_g"
    assert "species" in task.categorical and "body_mass_g" not in task.features
    assert "blessed:  yes" in result.stdout, result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    mae = float(re.search(r"mean_absolute_error (\d+\.\d+)", result.stdout)[1])
    line = re.search(r"vs\. predicting the train mean: mean_absolute_error (\d+\.\d+), "
                     r"(\d\.\d\d)x", result.stdout)
    assert line, result.stdout
    baseline = float(line[1])
    print(f"penguins body mass: MAE {mae:.1f} g vs train mean {baseline:.1f} g")
    assert mae <= 0.6 * baseline, (mae, baseline)
    assert mae <= config.evaluate.max_mae
    # The model card states the error in the label's units.
    card = (config.serving_model_dir / "model_cards" / "1.md").read_text()
    assert re.search(r"mean absolute error[^\n]* g\b", card, re.I), card


def test_predict_and_regress_agree_with_the_held_out_values(run, task):
    _, _, config = run
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    serialized, columns, labels = eval_table(config, task)
    known = np.array([v is not None for v in labels])
    predicted = loaded.signatures[contract.SERVING_SIGNATURE](
        **serving_inputs(columns))[contract.PREDICTION_OUTPUT].numpy()
    regressed = loaded.signatures[contract.REGRESS_SIGNATURE](
        inputs=tf.constant(serialized))[contract.REGRESS_OUTPUT].numpy()
    np.testing.assert_allclose(regressed, predicted, rtol=1e-4)
    actual = np.array([v for v in labels if v is not None], np.float64)
    mae = float(np.mean(np.abs(predicted[known] - actual)))
    mean_mae = float(np.mean(np.abs(actual.mean() - actual)))
    assert mae <= 0.6 * mean_mae, (mae, mean_mae)


def test_regress_api_over_rest_and_grpc(run, task):
    import requests

    from serving.client import GrpcClient
    from serving.server import ModelServer, ServerOptions

    _, _, config = run
    serialized, _, _ = eval_table(config, task)
    examples = [tf.train.Example.FromString(s) for s in serialized[:4]]
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    want = loaded.signatures[contract.REGRESS_SIGNATURE](
        inputs=tf.constant(serialized[:4]))[contract.REGRESS_OUTPUT].numpy()
    name = config.push.model_name
    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(config.serving_root / "models.config"),
    )).start()
    try:
        def as_json(example):
            out = {}
            for key, feature in example.features.feature.items():
                kind = feature.WhichOneof("kind")
                values = list(getattr(feature, kind).value) if kind else []
                if not values:
                    continue  # a missing value: no value in the JSON example either
                if kind == "bytes_list":
                    out[key] = values[0].decode()
                else:
                    out[key] = float(values[0]) if kind == "float_list" else int(values[0])
            return out

        rest = requests.post(
            f"http://127.0.0.1:{server.rest_port}/v1/models/{name}:regress",
            data=json.dumps({"signature_name": "regress",
                             "examples": [as_json(e) for e in examples]}), timeout=30)
        assert rest.status_code == 200, rest.text
        np.testing.assert_allclose(rest.json()["results"], want, rtol=1e-4)
        grpc = GrpcClient(port=server.grpc_port)
        try:
            response = grpc.regress(name, examples, signature_name="regress")
        finally:
            grpc.close()
        np.testing.assert_allclose([r.value for r in response.result.regressions], want,
                                   rtol=1e-4)
    finally:
        server.stop()


def test_edge_formats_are_gated_on_the_error(run):
    _, _, config = run
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert {"float32", "onnx"} <= set(metadata["formats"])
    assert metadata["output"]["name"] == contract.PREDICTION_OUTPUT
    assert not (edge_dir / "labels.txt").exists()
