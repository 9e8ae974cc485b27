"""tf.Transform preprocessing for the text task: raw reviews -> fixed-length token ids.

The transform graph (tokenization and the vocabulary) is exported inside the served model,
so clients send raw strings and training and serving share this exact code.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from models.text import features


def clean(text: tf.Tensor) -> tf.Tensor:
    """Lowercases and strips HTML line breaks and punctuation from a string tensor.

    Apostrophes are dropped inside words (``don't`` -> ``dont``) rather than splitting
    them; every other punctuation, symbol, separator or control character (Unicode classes
    P, S, Z, C: also no-break spaces and line separators, which the whitespace split would
    leave inside tokens) becomes a space.
    """
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    text = tf.strings.regex_replace(text, r"['\x{2019}]", "")
    return tf.strings.regex_replace(text, r"[\pP\pS\pZ\pC]+", " ")


def fix_length(ids: tf.SparseTensor, lengths: tf.Tensor, length: int, pad_id: int
               ) -> tf.Tensor:
    """Keeps the last ``length`` ids of each row and pads shorter rows at the front.

    Args:
      ids: ``[batch, None]`` token ids, row i holding ``lengths[i]`` values from column 0.
      lengths: Tokens per row.
      length: Output length.
      pad_id: Id written in front of short rows.

    Returns:
      A dense ``[batch, length]`` tensor.
    """
    dense = tf.sparse.to_dense(ids, default_value=pad_id)
    # Reverse each row's tokens (padding stays behind them), cut or pad at the back to
    # `length`, then reverse whole rows: the last tokens, padded at the front.
    reversed_rows = tf.reverse_sequence(dense, lengths, seq_axis=1, batch_axis=0)
    reversed_rows = tf.pad(reversed_rows, [[0, 0], [0, length]], constant_values=pad_id)
    return tf.reverse(reversed_rows[:, :length], axis=[1])


def _strings(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """The raw text as a ``[batch]`` string tensor (an absent value reads as empty)."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(x, default_value="")
    return tf.reshape(x, [-1])


def preprocessing_fn(inputs: dict) -> dict:
    """Tokenizes reviews and maps tokens to ids of the train split's vocabulary.

    Ids: 0 pads, 1 is out of vocabulary, then the ``VOCAB_SIZE - 2`` most frequent train
    tokens (``tft.compute_and_apply_vocabulary``, written with the reserved tokens first so
    line n of the vocabulary file is id n).
    """
    tokens = tf.strings.split(clean(_strings(inputs[features.TEXT_KEY])))
    ids = tft.compute_and_apply_vocabulary(
        tokens.to_sparse(),
        top_k=features.VOCAB_SIZE - len(features.RESERVED_TOKENS),
        reserved_tokens=list(features.RESERVED_TOKENS),
        default_value=features.OOV_ID,
        vocab_filename=features.VOCAB_NAME,
    )
    token_ids = fix_length(ids, tf.cast(tokens.row_lengths(), tf.int64),
                           features.SEQUENCE_LENGTH, features.PAD_ID)
    return {
        features.MODEL_INPUT_KEY: tf.reshape(token_ids, [-1, features.SEQUENCE_LENGTH]),
        features.LABEL_KEY: inputs[features.LABEL_KEY],
    }
