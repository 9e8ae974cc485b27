"""Exports the penguins classifier with its serving contract (see features.py).

``serving_default``, ``classify`` and ``transform_features`` run the Transform graph inside
the SavedModel, so clients send raw features and serving uses the training-time
preprocessing. ``edge`` takes the transformed vector: the statistics and vocabularies an app
needs to build it are read back from the transform graph and written into the edge spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft

from models import edge
from models import export as export_lib
from models.penguins import features


def raw_feature_spec(tft_output: tft.TFTransformOutput) -> dict[str, Any]:
    """The parsing spec of the raw features the task reads (no label, no unused columns).

    Raises:
      ValueError: the transform graph's schema lacks one of ``features.FEATURE_KEYS``.
    """
    spec = tft_output.raw_feature_spec()
    missing = [k for k in features.FEATURE_KEYS if k not in spec]
    if missing:
        raise ValueError(
            f"The transform graph's raw schema lacks features {missing}; the penguins task "
            f"reads {list(features.FEATURE_KEYS)}. Received: {sorted(spec)}"
        )
    return {k: spec[k] for k in features.FEATURE_KEYS}


def serving_input_spec(key: str) -> tf.TensorSpec:
    """``serving_default``'s input for a raw feature: one value per example."""
    dtype = tf.string if key in features.CATEGORICAL_KEYS else tf.float32
    return tf.TensorSpec([None], dtype, name=key)


def columns_to_raw_features(
    columns: Mapping[str, tf.Tensor], spec: Mapping[str, Any]
) -> dict[str, tf.Tensor | tf.SparseTensor]:
    """Turns ``serving_default``'s columns (``[batch]``, NaN or "" when missing) into what the
    Transform graph takes: a SparseTensor ``[batch, 1]`` of the present values for a feature
    the schema allows to be missing, else a dense ``[batch, 1]`` of the schema's dtype."""
    out = {}
    for key, feature_spec in spec.items():
        x = columns[key]
        dtype = feature_spec.dtype
        if x.dtype == tf.string:
            present = tf.not_equal(x, features.MISSING_STRING)
        else:
            present = tf.logical_not(tf.math.is_nan(x))
            if dtype.is_integer:
                x = tf.round(x)
        batch = tf.shape(x, out_type=tf.int64)[0]
        if isinstance(feature_spec, tf.io.VarLenFeature):
            rows = tf.where(present)
            out[key] = tf.SparseTensor(
                indices=tf.concat([rows, tf.zeros_like(rows)], axis=1),
                values=tf.cast(tf.gather_nd(x, rows), dtype),
                dense_shape=tf.stack([batch, tf.constant(1, tf.int64)]),
            )
        else:
            if dtype.is_integer:
                tf.debugging.assert_equal(
                    present, True,
                    message=f"{key} is required (the schema has no missing values for it)",
                )
            out[key] = tf.reshape(tf.cast(x, dtype), [-1, 1])
    return out


_PROBE = 1e6


def learned_preprocessing(tft_output: tft.TFTransformOutput) -> dict[str, Any]:
    """What the transform graph learned, for apps that build the edge input themselves.

    Returns:
      ``{"numeric": {key: {"mean", "std"}}, "categorical": {key: [vocabulary]}}``. Mean and
      standard deviation are read back by transforming 0 and ``_PROBE`` (the z-score is
      affine; a probe far from the data keeps float32 rounding out of the difference).
    """
    spec = raw_feature_spec(tft_output)
    layer = tft_output.transform_features_layer()
    columns = {
        key: tf.constant([features.MISSING_STRING] * 2 if key in features.CATEGORICAL_KEYS
                         else [0.0, _PROBE])
        for key in features.FEATURE_KEYS
    }
    vector = layer(columns_to_raw_features(columns, spec))[features.MODEL_INPUT_KEY].numpy()
    numeric = {}
    for i, key in enumerate(features.NUMERIC_KEYS):
        z0, z1 = (float(v) for v in vector[:, i])
        std = _PROBE / (z1 - z0)
        numeric[key] = {"mean": -z0 * std, "std": std}
    categorical = {
        key: [v.decode() if isinstance(v, bytes) else str(v)
              for v in tft_output.vocabulary_by_name(features.vocab_filename(key))]
        for key in features.CATEGORICAL_KEYS
    }
    return {"numeric": numeric, "categorical": categorical}


def normalization_text(learned: Mapping[str, Any]) -> str:
    """The edge input's recipe, with the learned numbers, for ``EdgeSpec.normalization``."""
    parts = [
        f"{key}: (x - {s['mean']:.7g}) / {s['std']:.7g}, missing 0"
        for key, s in learned["numeric"].items()
    ]
    for key, vocab in learned["categorical"].items():
        slots = features.VOCAB_SIZES[key] + features.OOV_SLOTS
        parts.append(
            f"{key}: one-hot of {slots} over {vocab}, slot {slots - 1} for missing or unseen"
        )
    return (
        f"{features.MODEL_INPUT_SIZE} float32 values in this order: " + "; ".join(parts)
        + f". The SavedModel's `{features.TRANSFORM_SIGNATURE}` signature does exactly this."
    )


def export(model: keras.Model, tft_output: tft.TFTransformOutput, export_dir: str) -> None:
    """Saves ``model`` with the four signatures of features.py and the edge spec."""
    spec = raw_feature_spec(tft_output)
    module = tf.Module()
    module.model = model
    module.tft_layer = tft_output.transform_features_layer()

    def transform(raw: Mapping[str, Any]) -> tf.Tensor:
        return module.tft_layer(dict(raw))[features.MODEL_INPUT_KEY]

    def parse(serialized: tf.Tensor) -> tf.Tensor:
        return transform(tf.io.parse_example(serialized, spec))

    @tf.function(input_signature=[serving_input_spec(k) for k in features.FEATURE_KEYS])
    def serving(*columns: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = columns_to_raw_features(dict(zip(features.FEATURE_KEYS, columns, strict=True)),
                                      spec)
        probabilities = module.model(transform(raw), training=False)
        return {
            features.PROBABILITIES: probabilities,
            features.CLASS_ID: tf.argmax(probabilities, axis=-1, output_type=tf.int64),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = module.model(parse(inputs), training=False)
        classes = tf.broadcast_to(tf.constant(list(features.CLASS_NAMES)), tf.shape(scores))
        return {"classes": classes, "scores": scores}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=features.TRANSFORM_INPUT)
    ])
    def transform_features(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return {features.MODEL_INPUT_KEY: parse(examples)}

    @tf.function(input_signature=[
        tf.TensorSpec([None, features.MODEL_INPUT_SIZE], tf.float32,
                      name=features.MODEL_INPUT_KEY)
    ])
    def edge_fn(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {features.PROBABILITIES: module.model(x, training=False)}

    export_lib.save_with_signatures(
        module,
        export_dir,
        {
            features.SERVING_SIGNATURE: serving.get_concrete_function(),
            features.EXAMPLES_SIGNATURE: classify.get_concrete_function(),
            features.TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
            features.EDGE_SIGNATURE: edge_fn.get_concrete_function(),
        },
        method_names={features.EXAMPLES_SIGNATURE: export_lib.CLASSIFY_METHOD},
    )
    edge_spec = dataclasses.replace(
        features.EDGE_SPEC, normalization=normalization_text(learned_preprocessing(tft_output))
    )
    edge.write_edge_spec(Path(export_dir), edge_spec)
