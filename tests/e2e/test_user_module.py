"""A module of one's own that replaces both the Transform and the training (``task.module_file``
with ``preprocessing_fn`` and ``run_fn``), on the bundled penguins with an inferred schema.

dlpipe still adds the label, exports the signatures, evaluates, blesses, serves and converts:
the run must be blessed and pushed, the served model must apply the module's own features
(log-scaled measurements, which dlpipe's recipe does not make), and the edge files must pass
their gates with metadata that names the module's function as the recipe.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from models.tasks.export import read_task_info
from tests.e2e.helpers import dlpipe_run, eval_table, node_states, serving_inputs

pytestmark = pytest.mark.e2e

MODULE = '''
"""Penguins: my features (log measurements, z-scored; island one-hot) and my training."""

import keras
import tensorflow as tf
import tensorflow_transform as tft

from models.tasks.trainer import datasets
from models.tasks.transform import present_values

MEASURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
ISLAND_SLOTS = 4  # three islands and one slot for a missing or unseen one
TRAINED_BY = "my_run_fn"


def preprocessing_fn(inputs, task):
    parts = []
    for key in MEASURES:
        present = present_values(inputs[key])  # missing values left out
        logged = tf.SparseTensor(present.indices, tf.math.log(tf.cast(present.values,
                                                                       tf.float32)),
                                 present.dense_shape)
        z = tft.scale_to_z_score(logged)
        parts.append(tft.sparse_tensor_to_dense_with_shape(z, [None, 1], default_value=0.0))
    island = tft.sparse_tensor_to_dense_with_shape(present_values(inputs["island"]), [None, 1],
                                                   default_value="")
    ids = tft.compute_and_apply_vocabulary(island, top_k=ISLAND_SLOTS - 1, num_oov_buckets=1)
    parts.append(tf.one_hot(tf.reshape(ids, [-1]), ISLAND_SLOTS))
    return {task.model_input: tf.concat(parts, axis=1)}


def run_fn(fn_args, task):
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    train, evaluation = datasets(fn_args, task, tft_output)
    width = tft_output.transformed_feature_spec()[task.model_input].shape[0]
    inputs = keras.Input(shape=(width,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    outputs = keras.layers.Dense(task.num_classes, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs, name=TRAINED_BY)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy"])
    model.fit(train, steps_per_epoch=fn_args.train_steps, epochs=1,
              validation_data=evaluation, validation_steps=fn_args.eval_steps, verbose=2)
    return model
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("user_module")
    project = root / "project"
    project.mkdir()
    (project / "penguin_features.py").write_text(MODULE)
    config_file = project / "penguins.yaml"
    config_file.write_text(textwrap.dedent("""\
        name: my_penguins
        task:
          kind: tabular_classification
          label: species
          module_file: penguin_features.py
        ingest: {kind: palmerpenguins}
        validate: {schema_file: ""}
        train: {train_steps: 300, eval_steps: 4, batch_size: 32}
        evaluate: {min_accuracy: 0.9, min_class_accuracy: 0.5}
        edge: {formats: [float32, onnx]}
        push: {model_name: my_penguins}
        """))
    return dlpipe_run(run_cli, root / "runs", config_file=config_file)


def test_the_module_trains_a_blessed_pushed_model(run):
    result, run_id, config = run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "blessed:  yes" in result.stdout, result.stdout
    assert f"pushed:   version 1 -> {config.serving_model_dir / '1'}" in result.stdout
    states = node_states(config, run_id)
    assert {"Transform", "Trainer", "Evaluator", "Pusher"} <= set(states)
    info = read_task_info(config.serving_model_dir / "1")
    assert info["learned"] == {"preprocessing": "preprocessing_fn of penguin_features.py"}


def test_serving_applies_the_modules_features(run):
    _, run_id, config = run
    from tests.e2e.helpers import run_task

    task = run_task(config, run_id)
    serialized, columns, labels = eval_table(config, task)
    loaded = tf.saved_model.load(str(config.serving_model_dir / "1"))
    features = loaded.signatures[contract.TRANSFORM_SIGNATURE](
        examples=tf.constant(serialized))[task.model_input].numpy()
    # Four log measurements and four island slots: the module's layout, not dlpipe's.
    assert features.shape == (len(serialized), 8)
    np.testing.assert_allclose(features[:, 4:].sum(axis=1), 1.0)
    out = loaded.signatures[contract.SERVING_SIGNATURE](**serving_inputs(columns))
    names = [n.decode() for n in out[contract.CLASS_NAME_OUTPUT].numpy()]
    accuracy = float(np.mean([n == y for n, y in zip(names, labels, strict=True)]))
    assert accuracy >= config.evaluate.min_accuracy, accuracy
    # The model is the one run_fn built.
    assert "my_run_fn" in (config.serving_model_dir / "1" / "saved_model.pb").read_bytes().decode(
        "latin-1")


def test_edge_files_pass_their_gates_and_name_the_recipe(run):
    _, _, config = run
    edge_dir = config.edge_root / config.push.model_name / "1"
    metadata = json.loads((edge_dir / "metadata.json").read_text())
    assert set(metadata["formats"]) == {"float32", "onnx"}
    assert all(entry["blessed"] for entry in metadata["formats"].values()), metadata
    assert metadata["input"]["shape"] == [None, 8]
    assert "preprocessing_fn of penguin_features.py" in metadata["input"]["normalization"]
