"""The tf.Transform ``preprocessing_fn`` of every task kind, driven by the resolved task.

TFX's Transform passes ``custom_config`` (``{"task": Task.to_dict()}``, set by the pipeline),
so one function serves every dataset of a kind. The transform graph is exported inside the
served model: clients send raw features and training and serving share this exact code.

Per kind (the names are the task's, ``models.tasks.spec``):

- images: pixels scaled to [0, 1] by the train split's min and max (``tft.scale_to_0_1``),
  shaped ``[batch, height, width, channels]`` under ``task.model_input``; the generative
  kinds add the train split's mean image (``MEAN_IMAGE_KEY``, the VAE's baseline);
- tables: one float32 vector per example: each numeric column z-scored over its present
  train values (a missing or non-finite value becomes 0, the train mean), then each
  categorical column one-hot over the train split's most frequent values with one slot for
  a missing or unseen value (``layout`` says which position holds what);
- text: lowercased, punctuation stripped, split on whitespace, mapped to the train
  vocabulary's ids (0 pads, 1 is out of vocabulary), the last ``sequence_length`` kept;
- audio: the clip's log-mel spectrogram ``[batch, frames, mels, 1]`` (``models.tasks.audio``),
  z-scored by the mean and standard deviation of every value of the train split;
- retrieval: the user's index in the train split's user vocabulary (most frequent first;
  any other user, or none, is the last index); the item, as the label, its index in the
  train split's item vocabulary, the catalogue (weight 0 for an item outside it, or none);
- the label: a classifier's class id (int64, the index of its key in ``task.class_keys``,
  -1 for a value outside them), a regressor's z-scored value (float32) and its value in
  label units; and each example's weight: 1 with a label value, 0 without (such an example
  counts in no loss and no metric, so a row without a label is left out, not an error).

A ``preprocessing_fn(inputs, task)`` in ``task.module_file`` replaces the feature part (it
returns ``{task.model_input: tensor}``); the label is still dlpipe's.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from models.generative.contract import MEAN_IMAGE_KEY
from models.tasks.spec import OOV_ID, PADDING_ID, Task, transformed_name, vocab_name

MISSING_STRING = ""
"""A missing string value in every signature (CsvExampleGen's empty field)."""
RESERVED_TOKENS = ("[PAD]", "[UNK]")
"""First lines of a text vocabulary: id 0 pads, id 1 is any word outside it."""


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """TFX Transform entry point (``transform.preprocessing_fn``) for every task kind."""
    task = Task.from_dict(custom_config["task"])
    from models.zoo import user_function

    user_fn = user_function(task.module_file, "preprocessing_fn")
    if user_fn is not None:
        outputs = dict(user_fn(dict(inputs), task))
        if task.model_input not in outputs:
            raise ValueError(
                f"preprocessing_fn of {task.module_file} must return the model input "
                f"{task.model_input!r}; it returned {sorted(outputs)}."
            )
    elif task.is_image:
        outputs = image_features(inputs, task)
    elif task.is_text:
        outputs = text_features(inputs, task)
    elif task.is_audio:
        outputs = audio_features(inputs, task)
    elif task.is_retrieval:
        outputs = retrieval_features(inputs, task)
    else:
        outputs = tabular_features(inputs, task)
    outputs.update(label_features(inputs, task))
    return outputs


# Shared helpers -----------------------------------------------------------------------------


def dense_column(x: tf.Tensor | tf.SparseTensor, size: int, default: Any) -> tf.Tensor:
    """``[batch, size]``: a dense feature as it is, a sparse one filled with ``default``."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(x, default_value=tf.constant(default, x.dtype))
    return tf.reshape(x, [-1, size])


def present_values(x: tf.Tensor | tf.SparseTensor) -> tf.SparseTensor:
    """A one-value column's present values as a SparseTensor of dense shape ``[batch, 1]``.

    Missing: no value, a NaN, or the empty string; only an example's first value is kept.
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
        keep = tf.not_equal(values, MISSING_STRING)
    elif values.dtype.is_floating:
        keep = tf.logical_not(tf.math.is_nan(values))
    else:
        keep = tf.ones_like(values, dtype=tf.bool)
    keep = tf.logical_and(keep, tf.equal(x.indices[:, 1], 0))
    return tf.SparseTensor(
        indices=tf.boolean_mask(x.indices, keep),
        values=tf.boolean_mask(values, keep),
        dense_shape=tf.stack([x.dense_shape[0], tf.constant(1, tf.int64)]),
    )


def as_strings(x: tf.Tensor) -> tf.Tensor:
    """Category or class keys as strings (integers in decimal, as ``task.class_keys``)."""
    return x if x.dtype == tf.string else tf.strings.as_string(x)


# Labels --------------------------------------------------------------------------------------


def class_ids(labels: tf.Tensor, keys: tuple[str, ...]) -> tf.Tensor:
    """``[batch]`` int64: the index of each label's key in ``keys``; -1 if it has none."""
    flat = as_strings(tf.reshape(labels, [-1]))
    matches = tf.equal(flat[:, None], tf.constant(list(keys))[None, :])
    index = tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int64)
    return tf.where(tf.reduce_any(matches, axis=1), index, tf.constant(-1, tf.int64))


def label_features(inputs: dict[str, Any], task: Task) -> dict[str, tf.Tensor]:
    """The label's Transform outputs (none when the examples carry no label): the class id or
    z-scored value, and the example's weight (0 without a label value, which then reads 0)."""
    if task.is_retrieval:
        return retrieval_labels(inputs, task)
    if task.label not in inputs or not (task.is_classification or task.is_regression):
        return {}
    present = present_values(inputs[task.label])
    weight = tf.reshape(tft.sparse_tensor_to_dense_with_shape(
        tf.SparseTensor(present.indices, tf.ones_like(present.values, tf.float32),
                        present.dense_shape), [None, 1], default_value=0.0), [-1])
    outputs = {task.weight_input: weight}
    if task.is_classification:
        keys = tft.sparse_tensor_to_dense_with_shape(
            tf.SparseTensor(present.indices, as_strings(present.values), present.dense_shape),
            [None, 1], default_value=task.class_keys[0])
        outputs[task.label_input] = class_ids(keys, task.class_keys)
        return outputs
    values = tf.SparseTensor(present.indices, tf.cast(present.values, tf.float32),
                             present.dense_shape)
    z = tft.scale_to_z_score(values)
    outputs[task.label_input] = tf.reshape(
        tft.sparse_tensor_to_dense_with_shape(z, [None, 1], default_value=0.0), [-1])
    outputs[task.label_value_input] = tf.reshape(
        tft.sparse_tensor_to_dense_with_shape(values, [None, 1], default_value=0.0), [-1])
    return outputs


# Images -------------------------------------------------------------------------------------


def image_features(inputs: dict[str, Any], task: Task) -> dict[str, tf.Tensor]:
    """Pixels scaled to [0, 1] by the train split's range, ``[batch, h, w, c]``."""
    pixels = tf.cast(dense_column(inputs[task.image], task.image_size, 0), tf.float32)
    scaled = tft.scale_to_0_1(pixels)
    image = tf.reshape(scaled, [-1, *task.image_shape])
    outputs = {task.model_input: image}
    if task.is_generative:
        mean_image = tft.mean(image, reduce_instance_dims=False)
        outputs[MEAN_IMAGE_KEY] = tf.zeros_like(image) + mean_image
    return outputs


# Tables -------------------------------------------------------------------------------------


def category_slots(task: Task, key: str) -> int:
    """One-hot width of a categorical column: its kept values plus the missing/unseen slot."""
    return task.category_sizes[key] + 1


def layout(task: Task) -> list[str]:
    """What each position of the tabular model input holds, in order."""
    return [*task.numeric, *(f"{key}[{i}]" for key in task.categorical
                             for i in range(category_slots(task, key)))]


def first_value_or_nan(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """``[batch, 1]`` float32: each example's first value, NaN where it has none."""
    nan = tf.constant(float("nan"), tf.float32)
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32),
                                               x.dense_shape), default_value=nan)
    x = tf.cast(tf.reshape(x, [tf.shape(x)[0], -1]), tf.float32)
    return tf.pad(x, [[0, 0], [0, 1]], constant_values=nan)[:, :1]  # a batch with no values


def scaled_numeric(columns: list[tf.Tensor | tf.SparseTensor]) -> tf.Tensor:
    """``[batch, len(columns)]`` float32: each column z-scored over its present (finite)
    train values; a missing or non-finite value becomes 0, the train mean.

    One elementwise analyzer over the stacked columns (tf.Transform's count, mean and
    variance skip NaNs): a wide table traces, analyzes and runs as one op chain instead of
    one per column.
    """
    stacked = tf.concat([first_value_or_nan(x) for x in columns], axis=1)
    z = tft.scale_to_z_score(stacked, elementwise=True)
    return tf.where(tf.math.is_finite(stacked), z, tf.zeros_like(z))


def one_hot_categorical(x: tf.Tensor | tf.SparseTensor, key: str, top_k: int) -> tf.Tensor:
    """``[batch, top_k + 1]`` float32: the train split's most frequent values, then one slot
    for a missing or unseen value."""
    present = present_values(x)
    strings = tf.SparseTensor(present.indices, as_strings(present.values), present.dense_shape)
    vocab = tft.vocabulary(strings, top_k=top_k, vocab_filename=vocab_name(key))
    dense = tft.sparse_tensor_to_dense_with_shape(strings, [None, 1],
                                                  default_value=MISSING_STRING)
    ids = tft.apply_vocabulary(dense, vocab, default_value=top_k)
    return tf.one_hot(tf.reshape(ids, [-1]), top_k + 1, dtype=tf.float32)


def tabular_features(inputs: dict[str, Any], task: Task) -> dict[str, tf.Tensor]:
    """The model's feature vector, laid out as ``layout(task)``."""
    missing = sorted(set(task.features) - set(inputs))
    if missing:
        raise ValueError(f"The schema lacks the task's columns {missing}; it has "
                         f"{sorted(inputs)}.")
    parts = [scaled_numeric([inputs[key] for key in task.numeric])] if task.numeric else []
    parts += [one_hot_categorical(inputs[key], key, task.category_sizes[key])
              for key in task.categorical]
    return {task.model_input: tf.concat(parts, axis=1)}


# Text ---------------------------------------------------------------------------------------


def clean_text(text: tf.Tensor) -> tf.Tensor:
    """Lowercases and strips HTML line breaks and punctuation from a string tensor.

    Apostrophes are dropped inside words (``don't`` -> ``dont``); every other punctuation,
    symbol, separator or control character (Unicode classes P, S, Z, C) becomes a space.
    """
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    text = tf.strings.regex_replace(text, r"['\x{2019}]", "")
    return tf.strings.regex_replace(text, r"[\pP\pS\pZ\pC]+", " ")


def fix_length(ids: tf.SparseTensor, lengths: tf.Tensor, length: int, pad_id: int
               ) -> tf.Tensor:
    """Keeps the last ``length`` ids of each row and pads shorter rows at the front."""
    dense = tf.sparse.to_dense(ids, default_value=pad_id)
    # Reverse each row's tokens (padding stays behind them), cut or pad at the back to
    # `length`, then reverse whole rows: the last tokens, padded at the front.
    reversed_rows = tf.reverse_sequence(dense, lengths, seq_axis=1, batch_axis=0)
    reversed_rows = tf.pad(reversed_rows, [[0, 0], [0, length]], constant_values=pad_id)
    return tf.reverse(reversed_rows[:, :length], axis=[1])


def text_features(inputs: dict[str, Any], task: Task) -> dict[str, tf.Tensor]:
    """Token ids ``[batch, sequence_length]`` of the train split's vocabulary."""
    text = tf.reshape(dense_column(inputs[task.text], 1, MISSING_STRING), [-1])
    tokens = tf.strings.split(clean_text(text))
    ids = tft.compute_and_apply_vocabulary(
        tokens.to_sparse(),
        top_k=task.vocab_size - len(RESERVED_TOKENS),
        reserved_tokens=list(RESERVED_TOKENS),
        default_value=OOV_ID,
        vocab_filename=vocab_name(task.text),
    )
    token_ids = fix_length(ids, tf.cast(tokens.row_lengths(), tf.int64),
                           task.sequence_length, PADDING_ID)
    return {transformed_name(task.text): tf.reshape(token_ids, [-1, task.sequence_length])}


# Audio --------------------------------------------------------------------------------------


def audio_features(inputs: dict[str, Any], task: Task) -> dict[str, tf.Tensor]:
    """The z-scored log-mel spectrogram of each clip, ``[batch, frames, mels, 1]``."""
    from models.tasks import audio

    samples = inputs[task.audio]
    if isinstance(samples, tf.SparseTensor):  # clips of several lengths (e.g. TFDS Audio)
        samples = tf.sparse.to_dense(samples, default_value=tf.constant(0, samples.dtype))
    samples = tf.reshape(samples, [tf.shape(samples)[0], -1])
    spectrogram = audio.front_end(samples, task.audio_samples, task.sample_rate,
                                  task.audio_scale)
    return {task.model_input: tft.scale_to_z_score(spectrogram, elementwise=False)}


# Retrieval ----------------------------------------------------------------------------------


def id_index(x: tf.Tensor | tf.SparseTensor, key: str) -> tuple[tf.Tensor, tf.Tensor]:
    """(ids as strings ``[batch]``, "" when missing; their indices ``[batch]`` int64 in the
    train split's vocabulary of ``key``, most frequent first, missing values not counted;
    the vocabulary's size for any other id, or none)."""
    present = present_values(x)
    strings = tf.SparseTensor(present.indices, as_strings(present.values), present.dense_shape)
    vocab = tft.vocabulary(strings, vocab_filename=vocab_name(key))
    ids = tf.reshape(tft.sparse_tensor_to_dense_with_shape(
        strings, [None, 1], default_value=MISSING_STRING), [-1])
    return ids, tft.apply_vocabulary(ids, vocab, default_value=-1, num_oov_buckets=1)


def retrieval_features(inputs: dict[str, Any], task: Task) -> dict[str, tf.Tensor]:
    """The user's index (the model input)."""
    return {task.model_input: id_index(inputs[task.user], task.user)[1]}


def retrieval_labels(inputs: dict[str, Any], task: Task) -> dict[str, tf.Tensor]:
    """The item's index in the catalogue (the label) and the weight: 0 for an item outside
    the catalogue (it cannot be recommended, so it is left out of training and recall)."""
    if task.item not in inputs:
        return {}
    items, index = id_index(inputs[task.item], task.item)
    size = tft.experimental.get_vocabulary_size_by_name(vocab_name(task.item))
    known = tf.logical_and(tf.less(index, tf.cast(size, tf.int64)),
                           tf.not_equal(items, MISSING_STRING))
    return {task.label_input: index, task.weight_input: tf.cast(known, tf.float32)}
