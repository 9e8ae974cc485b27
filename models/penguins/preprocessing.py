"""tf.Transform preprocessing for the penguins task: one float vector per example.

Measurements are z-scored with the train split's mean and standard deviation, computed
over the values present; a missing measurement becomes 0, the train mean. Island and sex
are one-hot over the train vocabulary, with one slot for a missing or unseen value. The
transform graph is exported inside the served model, so clients send raw features and
training and serving share this exact code.

A feature arrives as a SparseTensor when the schema allows it to be missing (CsvExampleGen
writes an empty field as a feature without values) and as a dense ``[batch, 1]`` tensor when
it is required; both are handled, and NaN and the empty string count as missing too.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from models.penguins import features


def present_values(x: tf.Tensor | tf.SparseTensor) -> tf.SparseTensor:
    """The feature's present values as a SparseTensor of dense shape ``[batch, 1]``.

    Missing: no value, a NaN, or the empty string. Only an example's first value is kept
    (the features hold one value each).
    """
    if not isinstance(x, tf.SparseTensor):
        dense = tf.reshape(x, [tf.shape(x)[0], -1])
        x = tf.SparseTensor(
            indices=tf.where(tf.ones_like(dense, dtype=tf.bool)),
            values=tf.reshape(dense, [-1]),
            dense_shape=tf.shape(dense, out_type=tf.int64),
        )
    values = x.values
    if values.dtype == tf.string:
        keep = tf.not_equal(values, features.MISSING_STRING)
    else:
        values = tf.cast(values, tf.float32)
        keep = tf.logical_not(tf.math.is_nan(values))
    keep = tf.logical_and(keep, tf.equal(x.indices[:, 1], 0))
    return tf.SparseTensor(
        indices=tf.boolean_mask(x.indices, keep),
        values=tf.boolean_mask(values, keep),
        dense_shape=tf.stack([x.dense_shape[0], tf.constant(1, tf.int64)]),
    )


def scaled_numeric(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """``[batch, 1]`` float32: z-score over the present train values; missing -> 0 (the mean)."""
    z = tft.scale_to_z_score(present_values(x))
    return tft.sparse_tensor_to_dense_with_shape(z, [None, 1], default_value=0.0)


def one_hot_categorical(x: tf.Tensor | tf.SparseTensor, key: str) -> tf.Tensor:
    """``[batch, VOCAB_SIZES[key] + 1]`` float32: the train vocabulary's most frequent values,
    then one slot for a missing or unseen value."""
    size = features.VOCAB_SIZES[key]
    present = present_values(x)
    vocab = tft.vocabulary(present, top_k=size, vocab_filename=features.vocab_filename(key))
    dense = tft.sparse_tensor_to_dense_with_shape(
        present, [None, 1], default_value=features.MISSING_STRING
    )
    ids = tft.apply_vocabulary(dense, vocab, default_value=size)
    return tf.one_hot(tf.reshape(ids, [-1]), size + features.OOV_SLOTS, dtype=tf.float32)


def preprocessing_fn(inputs: dict) -> dict:
    """Builds ``MODEL_INPUT_KEY`` (laid out as ``features.MODEL_INPUT_LAYOUT``) and passes the
    label through."""
    missing = sorted(set(features.FEATURE_KEYS) - set(inputs))
    if missing:
        raise ValueError(
            f"The penguins preprocessing needs features {list(features.FEATURE_KEYS)}; the "
            f"schema lacks {missing}. Received: {sorted(inputs)}"
        )
    parts = [scaled_numeric(inputs[key]) for key in features.NUMERIC_KEYS]
    parts += [one_hot_categorical(inputs[key], key) for key in features.CATEGORICAL_KEYS]
    outputs = {features.MODEL_INPUT_KEY: tf.concat(parts, axis=1)}
    if features.LABEL_KEY in inputs:
        outputs[features.LABEL_KEY] = inputs[features.LABEL_KEY]
    return outputs
