"""Tabular kinds on penguin-like rows: the one preprocessing_fn (imputing, z-scoring,
one-hot with an out-of-vocabulary slot, a string label looked up as a class id, a numeric
label z-scored, weight 0 without a label) and the export round trip (raw columns,
tf.Examples and the edge vector give the same answer) for classification and regression."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf

from dlpipe import contract
from models import edge
from models.tasks import transform
from models.tasks.spec import TABULAR_CLASSIFICATION, TABULAR_REGRESSION, Task

NAN = float("nan")
NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
ROWS = [  # island, sex, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, species
    ("Biscoe", "male", 50.0, 15.0, 220, 5000, "Gentoo"),
    ("Biscoe", "female", 46.0, 14.0, 212, 4600, "Gentoo"),
    ("Dream", "female", 46.0, 18.0, 192, 3500, "Chinstrap"),
    ("Dream", "", 40.0, 18.5, 190, 3600, "Adelie"),
    ("Torgersen", "male", None, None, None, None, "Adelie"),
    ("Dream", "male", 38.0, 18.0, 186, 3700, "Adelie"),
]
COLUMNS = ("island", "sex", *NUMERIC, "species")
PRESENT = {k: [r[i] for r in ROWS if r[i] is not None] for i, k in enumerate(COLUMNS)}
DTYPES = {"island": "string", "sex": "string", "bill_length_mm": "float",
          "bill_depth_mm": "float", "flipper_length_mm": "int", "body_mass_g": "int",
          "species": "string"}
CLASSIFY = Task(kind=TABULAR_CLASSIFICATION, label="species", label_dtype="string",
                classes=("Adelie", "Chinstrap", "Gentoo"),
                class_keys=("Adelie", "Chinstrap", "Gentoo"), numeric=NUMERIC,
                categorical=("island", "sex"),
                feature_dtypes={k: DTYPES[k] for k in ("island", "sex", *NUMERIC)},
                category_sizes={"island": 3, "sex": 2})
REGRESS = Task(kind=TABULAR_REGRESSION, label="body_mass_g", label_dtype="int", label_unit="g",
               numeric=NUMERIC[:3], categorical=("island", "sex", "species"),
               feature_dtypes={k: DTYPES[k] for k in ("island", "sex", "species", *NUMERIC[:3])},
               category_sizes={"island": 3, "sex": 2, "species": 3})


def raw_instance(row) -> dict:
    """A row as tf.Transform's instance dict (VarLen features: empty list when missing)."""
    out = {}
    for key, value in zip(COLUMNS, row, strict=True):
        if value is None or value == "":
            out[key] = []
        else:
            out[key] = [value.encode()] if isinstance(value, str) else [value]
    return out


def serialized(row) -> bytes:
    feats = {}
    for key, values in raw_instance(row).items():
        if DTYPES[key] == "string":
            feats[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        elif DTYPES[key] == "int":
            feats[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feats[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


RAW_SPEC = {key: tf.io.VarLenFeature({"string": tf.string, "int": tf.int64,
                                      "float": tf.float32}[DTYPES[key]]) for key in COLUMNS}


def columns_of(task: Task, rows) -> dict[str, tf.Tensor]:
    """serving_default's inputs: one tensor per column, "" / NaN where a value is missing."""
    out = {}
    for key in task.features:
        i = COLUMNS.index(key)
        if DTYPES[key] == "string":
            out[key] = tf.constant([r[i] or "" for r in rows])
        else:
            out[key] = tf.constant([NAN if r[i] is None else float(r[i]) for r in rows])
    return out


def analyze(task: Task, out) -> tuple[list[dict], object]:
    """Analyzes and transforms ROWS with the real preprocessing_fn; writes the transform
    graph with the raw schema beside it, as TFX's Transform does."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    config = {"task": task.to_dict()}
    with tft_beam.Context(temp_dir=str(out / "tmp"), force_tf_compat_v1=False):
        (rows, _), transform_fn = (
            [raw_instance(r) for r in ROWS], metadata
        ) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: transform.preprocessing_fn(inputs, config))
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "graph"))
    metadata_io.write_metadata(
        metadata, str(out / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR))
    return rows, tft.TFTransformOutput(str(out / "graph"))


def export(task: Task, tft_output, out) -> str:
    import keras

    from models.mlp import build_mlp
    from models.tasks.export import export_model

    keras.utils.set_random_seed(0)
    width = len(transform.layout(task))
    head = "regression" if task.is_regression else "classification"
    model = build_mlp((width,), task.num_classes or 1, hidden_units=(8,), head=head)
    return str(export_model(model, tft_output, out / "model", task))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("classify")
    rows, tft_output = analyze(CLASSIFY, out)
    return rows, export(CLASSIFY, tft_output, out)


@pytest.fixture(scope="module")
def regressor(tmp_path_factory):
    out = tmp_path_factory.mktemp("regress")
    rows, tft_output = analyze(REGRESS, out)
    return rows, export(REGRESS, tft_output, out)


def test_preprocessing_imputes_scales_one_hots_and_looks_up_string_classes(classifier):
    rows, _ = classifier
    x = np.stack([r[CLASSIFY.model_input] for r in rows])
    assert x.shape == (len(ROWS), 11) == (len(ROWS), len(transform.layout(CLASSIFY)))
    for i, key in enumerate(NUMERIC):
        values = np.asarray(PRESENT[key], np.float64)
        want = [0.0 if r[2 + i] is None else (r[2 + i] - values.mean()) / values.std()
                for r in ROWS]
        np.testing.assert_allclose(x[:, i], want, atol=1e-5, err_msg=key)
    island, sex = x[:, 4:8], x[:, 8:11]
    np.testing.assert_array_equal(island.sum(axis=1), 1.0)
    np.testing.assert_array_equal(sex.sum(axis=1), 1.0)
    # Most frequent first: Dream (3), Biscoe (2), Torgersen (1); male (3), female (2).
    assert [int(np.argmax(v)) for v in island] == [1, 1, 0, 0, 2, 0]
    assert [int(np.argmax(v)) for v in sex] == [0, 1, 1, 2, 0, 0]  # missing: last slot
    # The species' names became class ids by the task's class keys; every row weighs 1.
    assert [int(r[CLASSIFY.label_input]) for r in rows] == [
        CLASSIFY.classes.index(r[-1]) for r in ROWS]
    assert [float(r[CLASSIFY.weight_input]) for r in rows] == [1.0] * len(ROWS)


def test_regression_label_is_z_scored_and_a_missing_one_weighs_nothing(regressor):
    rows, _ = regressor
    mass = np.asarray(PRESENT["body_mass_g"], np.float64)
    want = [0.0 if r[5] is None else (r[5] - mass.mean()) / mass.std() for r in ROWS]
    np.testing.assert_allclose([float(r[REGRESS.label_input]) for r in rows], want, atol=1e-5)
    assert [float(r[REGRESS.label_value_input]) for r in rows] == [
        0.0 if r[5] is None else float(r[5]) for r in ROWS]
    assert [float(r[REGRESS.weight_input]) for r in rows] == [
        0.0 if r[5] is None else 1.0 for r in ROWS]


def test_present_values_of_dense_input_drop_nan_and_empty():
    numbers = transform.present_values(tf.constant([[1.5], [NAN], [3.0]]))
    assert numbers.indices.numpy().tolist() == [[0, 0], [2, 0]]
    assert numbers.dense_shape.numpy().tolist() == [3, 1]
    words = transform.present_values(tf.constant([["a"], [""]]))
    assert words.values.numpy().tolist() == [b"a"]


def test_classifier_serves_raw_columns_examples_and_the_edge_vector(classifier):
    _, exported = classifier
    loaded = tf.saved_model.load(exported)
    assert set(loaded.signatures) == {
        contract.SERVING_SIGNATURE, contract.CLASSIFY_SIGNATURE,
        contract.TRANSFORM_SIGNATURE, contract.EDGE_SIGNATURE}
    columns = columns_of(CLASSIFY, ROWS)
    served = loaded.signatures[contract.SERVING_SIGNATURE](**columns)
    probabilities = served[contract.PROBABILITIES_OUTPUT].numpy()
    assert probabilities.shape == (len(ROWS), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    ids = served[contract.CLASS_ID_OUTPUT].numpy()
    np.testing.assert_array_equal(ids, probabilities.argmax(axis=1))
    assert [n.decode() for n in served[contract.CLASS_NAME_OUTPUT].numpy()] == [
        CLASSIFY.classes[i] for i in ids]

    examples = tf.constant([serialized(r) for r in ROWS])
    classified = loaded.signatures[contract.CLASSIFY_SIGNATURE](inputs=examples)
    np.testing.assert_allclose(classified["scores"].numpy(), probabilities, atol=1e-6)
    assert classified["classes"].numpy()[0].tolist() == [b"Adelie", b"Chinstrap", b"Gentoo"]
    transformed = loaded.signatures[contract.TRANSFORM_SIGNATURE](examples=examples)
    assert transformed[CLASSIFY.label_input].numpy().tolist() == [2, 2, 1, 0, 0, 0]
    vector = transformed[CLASSIFY.model_input]
    on_edge = loaded.signatures[contract.EDGE_SIGNATURE](**{CLASSIFY.model_input: vector})
    np.testing.assert_allclose(on_edge[contract.PROBABILITIES_OUTPUT].numpy(), probabilities,
                               atol=1e-6)

    # An unseen island goes to the out-of-vocabulary slot, like a missing one.
    unseen = loaded.signatures[contract.TRANSFORM_SIGNATURE](
        examples=tf.constant([serialized(("Atlantis", "", 40.0, 18.0, 190, 3600, "Adelie"))]))
    assert unseen[CLASSIFY.model_input].numpy()[0, 4:8].tolist() == [0, 0, 0, 1]


def test_regressor_serves_the_prediction_in_label_units(regressor):
    _, exported = regressor
    loaded = tf.saved_model.load(exported)
    assert contract.REGRESS_SIGNATURE in loaded.signatures
    assert contract.CLASSIFY_SIGNATURE not in loaded.signatures
    served = loaded.signatures[contract.SERVING_SIGNATURE](**columns_of(REGRESS, ROWS))
    prediction = served[contract.PREDICTION_OUTPUT].numpy()
    assert prediction.shape == (len(ROWS),)
    examples = tf.constant([serialized(r) for r in ROWS])
    regressed = loaded.signatures[contract.REGRESS_SIGNATURE](inputs=examples)
    np.testing.assert_allclose(regressed[contract.REGRESS_OUTPUT].numpy(), prediction,
                               rtol=1e-5)
    # The edge signature answers in label units too (the graph un-z-scores the output).
    vector = loaded.signatures[contract.TRANSFORM_SIGNATURE](examples=examples)[
        REGRESS.model_input]
    on_edge = loaded.signatures[contract.EDGE_SIGNATURE](**{REGRESS.model_input: vector})
    np.testing.assert_allclose(on_edge[contract.PREDICTION_OUTPUT].numpy().reshape(-1),
                               prediction, rtol=1e-5)
    # An untrained net predicts about the train mean (its outputs are z-scores near 0).
    mass = np.asarray(PRESENT["body_mass_g"], np.float64)
    assert abs(float(np.median(prediction)) - mass.mean()) < 3 * mass.std()
    from tensorflow.core.protobuf import saved_model_pb2

    meta = saved_model_pb2.SavedModel.FromString(
        open(f"{exported}/saved_model.pb", "rb").read()).meta_graphs[0]
    assert meta.signature_def["regress"].method_name == contract.REGRESS_METHOD


def test_edge_spec_carries_the_learned_statistics(classifier, regressor):
    spec = edge.read_edge_spec(classifier[1])
    assert spec.input_name == CLASSIFY.model_input
    assert spec.input_shape == (11,)
    assert spec.labels == CLASSIFY.classes
    assert spec.example_signature == contract.TRANSFORM_SIGNATURE
    mass = np.asarray(PRESENT["body_mass_g"], np.float64)
    mean, std = re.search(r"body_mass_g: \(x - ([\d.]+)\) / ([\d.]+), missing 0",
                          spec.normalization).groups()
    np.testing.assert_allclose([float(mean), float(std)], [mass.mean(), mass.std()], rtol=1e-6)
    assert "island: one-hot of 4 over ['Dream', 'Biscoe', 'Torgersen']" in spec.normalization
    json.dumps(spec.to_dict())  # written as JSON beside the graph
    regression = edge.read_edge_spec(regressor[1])
    assert regression.output_name == contract.PREDICTION_OUTPUT
    assert math.isclose(regression.output_scale, mass.std(), rel_tol=1e-5)


def test_task_info_inside_the_model_reads_back(classifier):
    from models.tasks.export import read_task_info

    info = read_task_info(classifier[1])
    assert Task.from_dict(info["task"]) == CLASSIFY
    bill = np.asarray(PRESENT["bill_length_mm"], np.float64)
    numeric = info["learned"]["numeric"]["bill_length_mm"]
    assert math.isclose(numeric["mean"], bill.mean(), rel_tol=1e-6)
    assert math.isclose(numeric["std"], bill.std(), rel_tol=1e-6)
    assert info["learned"]["categorical"]["sex"] == ["male", "female"]


def test_edge_exporter_feeds_serialized_examples_through_transform_features(classifier,
                                                                            tmp_path):
    from components.edge_export import data, executor
    from components.edge_export import formats as fmts
    from dlpipe.examples import write_records

    _, exported = classifier
    for split in ("train", "eval"):
        write_records(tmp_path / split / "data.tfrecord.gz", [serialized(r) for r in ROWS])
    representative, eval_data = executor._edge_inputs(
        exported, fmts.ExportOptions(), CLASSIFY.model_input, CLASSIFY.label,
        str(tmp_path / "train"), str(tmp_path / "eval"))
    assert representative.x.shape == eval_data.x.shape == (len(ROWS), 11)
    assert representative.y is None
    # String labels become class ids by the class keys the model carries.
    assert eval_data.y.tolist() == [CLASSIFY.classes.index(r[-1]) for r in ROWS]
    loaded = tf.saved_model.load(exported)
    want = loaded.signatures[contract.TRANSFORM_SIGNATURE](
        examples=tf.constant([serialized(r) for r in ROWS]))[CLASSIFY.model_input]
    np.testing.assert_array_equal(eval_data.x, want.numpy())

    raw = data.load_examples(tmp_path / "eval", data.SERIALIZED_EXAMPLE, CLASSIFY.label,
                             label_keys=CLASSIFY.class_keys)
    two_inputs = tf.function(lambda x, y: {"z": x + y}).get_concrete_function(
        tf.TensorSpec([None], tf.string, name="x"), tf.TensorSpec([None], tf.string, name="y"))
    tf.saved_model.save(tf.Module(), str(tmp_path / "two"), signatures={"two": two_inputs})
    with pytest.raises(data.DataError, match=r"takes \['x', 'y'\]; expected one input"):
        data.map_with_signature(raw, tf.saved_model.load(str(tmp_path / "two")), "two",
                                data.SERIALIZED_EXAMPLE)


def test_infra_validator_skips_batches_with_missing_values(classifier):
    from pathlib import Path

    from components.infra_validator.validate import validate_model

    report = validate_model(Path(classifier[1]), [serialized(r) for r in ROWS], batch_size=2)
    assert report.blessed, report.reason
    checks = {(c.name, c.protocol): c for c in report.checks}
    # Rows 3 (no sex) and 4 (no measurements) cannot form serving_default's inputs: their
    # batches are skipped there; classify and transform_features take every row.
    assert checks[(contract.SERVING_SIGNATURE, "rest")].requests == 1
    assert checks[(contract.CLASSIFY_SIGNATURE, "grpc")].requests == 3
    assert checks[(contract.TRANSFORM_SIGNATURE, "rest")].requests == 3
    assert "3 signature(s)" in report.reason


def test_first_value_or_nan_of_sparse_dense_and_empty_columns():
    sparse = tf.SparseTensor([[0, 0], [0, 1], [2, 0]], tf.constant([7, 8, 9], tf.int64), [3, 2])
    np.testing.assert_array_equal(transform.first_value_or_nan(sparse).numpy(),
                                  [[7.0], [NAN], [9.0]])
    empty = tf.SparseTensor(tf.zeros([0, 2], tf.int64), tf.zeros([0], tf.float32), [2, 0])
    np.testing.assert_array_equal(transform.first_value_or_nan(empty).numpy(), [[NAN], [NAN]])
    dense = tf.constant([1.5, 2.5])
    np.testing.assert_array_equal(transform.first_value_or_nan(dense).numpy(), [[1.5], [2.5]])
