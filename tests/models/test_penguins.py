"""Penguins task: the tf.Transform preprocessing on rows with missing and unseen values, and
the export round trip (raw features, tf.Examples and the edge vector give the same answer)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import tensorflow as tf

from models import edge
from models.penguins import features, preprocessing

NAN = float("nan")
ROWS = [  # island, sex, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, label
    ("Biscoe", "male", 50.0, 15.0, 220, 5000, 2),
    ("Biscoe", "female", 46.0, 14.0, 212, 4600, 2),
    ("Dream", "female", 46.0, 18.0, 192, 3500, 1),
    ("Dream", "", 40.0, 18.5, 190, 3600, 0),
    ("Torgersen", "male", None, None, None, None, 0),
    ("Dream", "male", 38.0, 18.0, 186, 3700, 0),
]
PRESENT = {k: [r[i] for r in ROWS if r[i] is not None]
           for i, k in enumerate(("island", "sex", *features.NUMERIC_KEYS))}


def raw_instance(row) -> dict:
    """A row as tf.Transform's instance dict (VarLen features: empty list when missing)."""
    island, sex, *numbers, label = row
    out = {"island": [island.encode()], "sex": [sex.encode()] if sex else [],
           features.LABEL_KEY: [label]}
    for key, value in zip(features.NUMERIC_KEYS, numbers, strict=True):
        out[key] = [] if value is None else [value]
    return out


def serialized(row) -> bytes:
    feats = {}
    for key, values in raw_instance(row).items():
        if key in features.CATEGORICAL_KEYS:
            feats[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        elif key in ("flipper_length_mm", "body_mass_g", features.LABEL_KEY):
            feats[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feats[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


RAW_SPEC = {
    "island": tf.io.VarLenFeature(tf.string),
    "sex": tf.io.VarLenFeature(tf.string),
    "bill_length_mm": tf.io.VarLenFeature(tf.float32),
    "bill_depth_mm": tf.io.VarLenFeature(tf.float32),
    "flipper_length_mm": tf.io.VarLenFeature(tf.int64),
    "body_mass_g": tf.io.VarLenFeature(tf.int64),
    features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64),
}


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """Analyzes and transforms ROWS with the real preprocessing_fn; writes the transform
    graph. Returns (transformed rows, transform output directory)."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    out = tmp_path_factory.mktemp("transform")
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tft_beam.Context(temp_dir=str(out / "tmp"), force_tf_compat_v1=False):
        (rows, _), transform_fn = (
            [raw_instance(r) for r in ROWS], metadata
        ) | tft_beam.AnalyzeAndTransformDataset(preprocessing.preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "graph"))
    # The raw schema beside the graph, as TFX's Transform writes it.
    raw_metadata_dir = out / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR
    metadata_io.write_metadata(metadata, str(raw_metadata_dir))
    return rows, out / "graph"


def test_preprocessing_imputes_scales_and_one_hots(transformed):
    rows, _ = transformed
    x = np.stack([r[features.MODEL_INPUT_KEY] for r in rows])
    assert x.shape == (len(ROWS), features.MODEL_INPUT_SIZE) == (len(ROWS), 11)
    for i, key in enumerate(features.NUMERIC_KEYS):
        values = np.asarray(PRESENT[key], np.float64)
        want = [0.0 if r[2 + i] is None else (r[2 + i] - values.mean()) / values.std()
                for r in ROWS]
        np.testing.assert_allclose(x[:, i], want, atol=1e-5, err_msg=key)
    island = x[:, 4:8]
    sex = x[:, 8:11]
    np.testing.assert_array_equal(island.sum(axis=1), 1.0)
    np.testing.assert_array_equal(sex.sum(axis=1), 1.0)
    # Most frequent first: Dream (3), Biscoe (2), Torgersen (1); male (3), female (2).
    assert [int(np.argmax(v)) for v in island] == [1, 1, 0, 0, 2, 0]
    assert [int(np.argmax(v)) for v in sex] == [0, 1, 1, 2, 0, 0]  # missing: last slot
    assert [r[features.LABEL_KEY][0] for r in rows] == [r[-1] for r in ROWS]


def test_present_values_of_dense_input_drop_nan_and_empty():
    numbers = preprocessing.present_values(tf.constant([[1.5], [NAN], [3.0]]))
    assert numbers.indices.numpy().tolist() == [[0, 0], [2, 0]]
    assert numbers.dense_shape.numpy().tolist() == [3, 1]
    words = preprocessing.present_values(tf.constant([["a"], [""]]))
    assert words.values.numpy().tolist() == [b"a"]


@pytest.fixture(scope="module")
def exported(transformed, tmp_path_factory):
    import keras
    import tensorflow_transform as tft

    from models.mlp import build_mlp
    from models.penguins import export

    _, graph = transformed
    keras.utils.set_random_seed(0)
    model = build_mlp(features.MODEL_INPUT_SHAPE, features.NUM_CLASSES, hidden_units=(8,))
    export_dir = tmp_path_factory.mktemp("export") / "model"
    export.export(model, tft.TFTransformOutput(str(graph)), str(export_dir))
    return export_dir


def test_export_serves_raw_features_examples_and_the_edge_vector(exported):
    loaded = tf.saved_model.load(str(exported))
    assert set(loaded.signatures) == {features.SERVING_SIGNATURE, features.EXAMPLES_SIGNATURE,
                                      features.TRANSFORM_SIGNATURE, features.EDGE_SIGNATURE}
    columns = {
        "island": tf.constant([r[0] for r in ROWS]),
        "sex": tf.constant([r[1] for r in ROWS]),
        **{key: tf.constant([NAN if r[2 + i] is None else float(r[2 + i]) for r in ROWS])
           for i, key in enumerate(features.NUMERIC_KEYS)},
    }
    served = loaded.signatures[features.SERVING_SIGNATURE](**columns)
    probabilities = served[features.PROBABILITIES].numpy()
    assert probabilities.shape == (len(ROWS), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(served[features.CLASS_ID].numpy(),
                                  probabilities.argmax(axis=1))

    examples = tf.constant([serialized(r) for r in ROWS])
    classified = loaded.signatures[features.EXAMPLES_SIGNATURE](inputs=examples)
    np.testing.assert_allclose(classified["scores"].numpy(), probabilities, atol=1e-6)
    assert classified["classes"].numpy()[0].tolist() == [c.encode() for c in
                                                         features.CLASS_NAMES]
    vector = loaded.signatures[features.TRANSFORM_SIGNATURE](examples=examples)[
        features.MODEL_INPUT_KEY]
    on_edge = loaded.signatures[features.EDGE_SIGNATURE](**{features.MODEL_INPUT_KEY: vector})
    np.testing.assert_allclose(on_edge[features.PROBABILITIES].numpy(), probabilities, atol=1e-6)

    # An unseen island goes to the out-of-vocabulary slot, like a missing one.
    one = {k: v[:1] for k, v in columns.items()}
    unseen = loaded.signatures[features.TRANSFORM_SIGNATURE](
        examples=tf.constant([serialized(("Atlantis", "", 40.0, 18.0, 190, 3600, 0))]))
    assert unseen[features.MODEL_INPUT_KEY].numpy()[0, 4:8].tolist() == [0, 0, 0, 1]
    assert loaded.signatures[features.SERVING_SIGNATURE](**one)[features.CLASS_ID].shape == (1,)


def test_edge_spec_carries_the_learned_statistics(exported):
    spec = edge.read_edge_spec(exported)
    assert spec.input_name == features.MODEL_INPUT_KEY
    assert spec.input_shape == (features.MODEL_INPUT_SIZE,)
    assert spec.labels == features.CLASS_NAMES
    assert spec.example_signature == features.TRANSFORM_SIGNATURE
    mass = np.asarray(PRESENT["body_mass_g"], np.float64)
    mean, std = re.search(r"body_mass_g: \(x - ([\d.]+)\) / ([\d.]+), missing 0",
                          spec.normalization).groups()
    np.testing.assert_allclose([float(mean), float(std)], [mass.mean(), mass.std()], rtol=1e-6)
    assert "island: one-hot of 4 over ['Dream', 'Biscoe', 'Torgersen']" in spec.normalization
    json.dumps(spec.to_dict())  # written as JSON beside the graph


def test_learned_preprocessing_reads_back_mean_and_std(transformed):
    import tensorflow_transform as tft

    from models.penguins import export

    learned = export.learned_preprocessing(tft.TFTransformOutput(str(transformed[1])))
    bill = np.asarray(PRESENT["bill_length_mm"], np.float64)
    assert math.isclose(learned["numeric"]["bill_length_mm"]["mean"], bill.mean(), rel_tol=1e-6)
    assert math.isclose(learned["numeric"]["bill_length_mm"]["std"], bill.std(), rel_tol=1e-6)
    assert learned["categorical"]["sex"] == ["male", "female"]


def test_columns_for_a_schema_without_missing_values():
    from models.penguins import export

    spec = {"bill_length_mm": tf.io.FixedLenFeature([1], tf.float32),
            "body_mass_g": tf.io.FixedLenFeature([1], tf.int64)}
    raw = export.columns_to_raw_features(
        {"bill_length_mm": tf.constant([NAN, 40.0]), "body_mass_g": tf.constant([3600.4, 4000])},
        spec)
    # A float NaN reaches the graph, which treats it as missing; whole numbers are rounded.
    assert np.isnan(raw["bill_length_mm"].numpy()[0, 0])
    assert raw["body_mass_g"].numpy().tolist() == [[3600], [4000]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="body_mass_g is required"):
        export.columns_to_raw_features(
            {"bill_length_mm": tf.constant([1.0]), "body_mass_g": tf.constant([NAN])}, spec)


def test_edge_exporter_feeds_serialized_examples_through_transform_features(exported, tmp_path):
    from components.edge_export import data, executor
    from components.edge_export import formats as fmts
    from pipeline.ingest import write_tfrecords

    for split in ("train", "eval"):
        write_tfrecords(tmp_path / split / "data.tfrecord.gz", [serialized(r) for r in ROWS])
    representative, eval_data = executor._edge_inputs(
        str(exported), fmts.ExportOptions(), features.MODEL_INPUT_KEY, features.LABEL_KEY,
        str(tmp_path / "train"), str(tmp_path / "eval"))
    assert representative.x.shape == eval_data.x.shape == (len(ROWS), features.MODEL_INPUT_SIZE)
    assert representative.y is None
    assert eval_data.y.tolist() == [r[-1] for r in ROWS]
    loaded = tf.saved_model.load(str(exported))
    want = loaded.signatures[features.TRANSFORM_SIGNATURE](
        examples=tf.constant([serialized(r) for r in ROWS]))[features.MODEL_INPUT_KEY]
    np.testing.assert_array_equal(eval_data.x, want.numpy())

    raw = data.load_examples(tmp_path / "eval", data.SERIALIZED_EXAMPLE, features.LABEL_KEY)
    two_inputs = tf.function(lambda x, y: {"z": x + y}).get_concrete_function(
        tf.TensorSpec([None], tf.string, name="x"), tf.TensorSpec([None], tf.string, name="y"))
    tf.saved_model.save(tf.Module(), str(tmp_path / "two"), signatures={"two": two_inputs})
    with pytest.raises(data.DataError, match=r"takes \['x', 'y'\]; expected one input"):
        data.map_with_signature(raw, tf.saved_model.load(str(tmp_path / "two")), "two",
                                data.SERIALIZED_EXAMPLE)


def test_infra_validator_skips_batches_with_missing_values(exported):
    from components.infra_validator.validate import validate_model

    report = validate_model(exported, [serialized(r) for r in ROWS], batch_size=2)
    assert report.blessed, report.reason
    checks = {(c.name, c.protocol): c for c in report.checks}
    # Rows 3 (no sex) and 4 (no measurements) cannot form serving_default's inputs: their
    # batches are skipped there; classify and transform_features take every row.
    assert checks[(features.SERVING_SIGNATURE, "rest")].requests == 1
    assert checks[(features.EXAMPLES_SIGNATURE, "grpc")].requests == 3
    assert checks[(features.TRANSFORM_SIGNATURE, "rest")].requests == 3
    assert "3 signature(s)" in report.reason
