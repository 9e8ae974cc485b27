"""A CSV of one's own, by a config file and a model file of one's own: no package, no
PYTHONPATH, no schema written by hand.

The data: 3,000 Chicago taxi trips from the CSV inside the tfx wheel (17 numeric and string
columns, missing values, taxi companies in the eval split that train never saw), labelled
``generous`` / ``small`` by whether the tip was at least 20% of the fare. The config names
the label and one column to ignore; the model is a builder function in ``my_model.py`` beside
the config (``task.module_file``). The run must be blessed and pushed; the pushed model
answers with class names over REST (predict and classify) and gRPC, and its TFLite and ONNX
files pass their gates against the SavedModel.
"""

from __future__ import annotations

import csv
import json
import textwrap
from importlib import resources

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from tests.e2e.helpers import dlpipe_run, eval_table, node_states, run_task, serving_inputs

pytestmark = pytest.mark.e2e
ROWS = 3000
MODEL_FILE = '''
"""A wide-and-deep MLP: the raw feature vector beside one hidden layer of it."""

import keras


def wide_and_deep(input_shape, num_outputs, units: int = 32, head: str = "classification"):
    inputs = keras.Input(shape=tuple(input_shape), name="features")
    deep = keras.layers.Dense(units, activation="relu", name="deep")(inputs)
    both = keras.layers.Concatenate(name="wide_and_deep")([inputs, deep])
    activation = "softmax" if head == "classification" else None
    outputs = keras.layers.Dense(num_outputs, activation=activation, name="out")(both)
    return keras.Model(inputs, outputs, name="wide_and_deep")
'''


def write_taxi_csv(path) -> None:
    """The first ROWS trips, the tip turned into a string label (``tips`` itself dropped: it
    would give the label away)."""
    source = resources.files("tfx") / "examples/chicago_taxi_pipeline/data/simple/data.csv"
    with source.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = [c for c in reader.fieldnames if c != "tips"]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([*columns, "tip_class"])
            for i, row in enumerate(reader):
                if i == ROWS:
                    break
                fare, tips = float(row["fare"] or 0), float(row["tips"] or 0)
                label = "generous" if fare > 0 and tips >= 0.2 * fare else "small"
                writer.writerow([*(row[c] for c in columns), label])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("own_data")
    write_taxi_csv(root / "data" / "trips.csv")
    project = root / "project"
    project.mkdir()
    (project / "my_model.py").write_text(MODEL_FILE)
    config_file = project / "taxi.yaml"
    config_file.write_text(textwrap.dedent(f"""\
        name: taxi_tips
        output_root: {root / "runs"}
        task:
          kind: tabular_classification
          label: tip_class
          ignore: [trip_start_timestamp]
          module_file: my_model.py
        ingest:
          kind: csv
          path: {root / "data"}
        validate:
          schema_file: ""
        model:
          builder: wide_and_deep
          hparams: {{units: 16}}
        train: {{train_steps: 300, epochs: 3, eval_steps: 5, batch_size: 64,
                 learning_rate: 0.005}}
        evaluate: {{min_accuracy: 0.75, min_class_accuracy: 0.3}}
        push: {{model_name: taxi}}
        edge: {{formats: [float32, onnx]}}
        """))
    return dlpipe_run(run_cli, root / "runs", config_file=config_file)


@pytest.fixture(scope="module")
def task(run):
    _, run_id, config = run
    return run_task(config, run_id)


def test_the_run_is_blessed_and_pushed_with_an_inferred_curated_schema(run, task):
    result, run_id, config = run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    states = node_states(config, run_id)
    assert "SchemaGen" in states and "SchemaCurator" in states
    # Classes learned from the data (sorted), columns typed by the rule.
    assert task.classes == ("generous", "small")
    assert {"payment_type", "company", "trip_start_day"} <= set(task.categorical)
    assert {"fare", "trip_miles", "pickup_latitude"} <= set(task.numeric)
    assert "trip_start_timestamp" not in task.features
    # Taxi companies the train split never saw reached the eval split without an anomaly.
    from dlpipe.examples import feature_values, read_examples, split_files

    (uri,) = {p.parent for p in config.pipeline_root.glob("CsvExampleGen/examples/*/Split-*")}
    companies = {split: {tuple(feature_values(e, "company"))
                         for e in read_examples(split_files(uri, split))}
                 for split in ("train", "eval")}
    assert companies["eval"] - companies["train"], "the eval split holds no unseen company"
    assert "Data validation failed" not in result.stdout


def test_served_answers_carry_class_names_over_rest_and_grpc(run, task):
    import requests

    from serving.client import GrpcClient
    from serving.server import ModelServer, ServerOptions

    _, _, config = run
    serialized, columns, labels = eval_table(config, task)
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    out = loaded.signatures[contract.SERVING_SIGNATURE](**serving_inputs(columns))
    names = [n.decode() for n in out[contract.CLASS_NAME_OUTPUT].numpy()]
    accuracy = float(np.mean([n == y for n, y in zip(names, labels, strict=True)]))
    assert accuracy >= config.evaluate.min_accuracy, accuracy

    name = config.push.model_name
    server = ModelServer(ServerOptions(
        grpc_port=0, rest_port=0, model_config_file=str(config.serving_root / "models.config"),
    )).start()
    try:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/{name}"
        first = {k: (v[0] if isinstance(v[0], str) else None if np.isnan(v[0]) else float(v[0]))
                 for k, v in columns.items()}
        row = {k: (float("nan") if v is None else v) for k, v in first.items()}
        predicted = requests.post(f"{url}:predict", data=json.dumps({"instances": [row]}),
                                  timeout=30)
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["predictions"][0][contract.CLASS_NAME_OUTPUT] == names[0]
        example = {k: v for k, v in first.items() if v is not None and v != ""}
        for key, dtype in task.feature_dtypes.items():
            if dtype == "int" and key in example:
                example[key] = int(example[key])
        classified = requests.post(f"{url}:classify", data=json.dumps(
            {"signature_name": "classify", "examples": [example]}), timeout=30)
        assert classified.status_code == 200, classified.text
        (result,) = classified.json()["results"]
        assert [c for c, _ in result] == ["generous", "small"]
        grpc = GrpcClient(port=server.grpc_port)
        try:
            response = grpc.classify(name, [tf.train.Example.FromString(serialized[0])],
                                     signature_name="classify")
        finally:
            grpc.close()
        classes = response.result.classifications[0].classes
        assert [c.label for c in classes] == ["generous", "small"]
        best = max(classes, key=lambda c: c.score).label
        assert best == names[0]
    finally:
        server.stop()


def test_tflite_and_onnx_pass_their_gates(run):
    _, _, config = run
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == {"float32", "onnx"}
    assert all(entry["blessed"] for entry in metadata["formats"].values()), metadata
    assert (edge_dir / "labels.txt").read_text().split() == ["generous", "small"]
