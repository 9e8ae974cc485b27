"""Sequence classifiers: LSTM, GRU and a Transformer encoder (pure builders: they never train).

Like every supervised builder in the zoo, each takes ``(input_shape, num_outputs, **hparams)``
and a ``head`` (models/heads.py). ``input_shape`` is ``(sequence_length,)`` for token ids
(with ``vocab_size > 0``: int input, as the text kind feeds it), ``(sequence_length,
num_features)`` for float vectors, or an image's ``(height, width, channels)``, read as
``height`` rows of ``width x channels`` values. The sequence length is fixed so the edge
exports get fixed shapes (RNNs unroll to TFLite builtin ops; see models/edge.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from models.heads import CLASSIFICATION, check_head, output_layer

RNN_CELLS = ("lstm", "gru")


def _inputs(input_shape: Sequence[int], num_outputs: int, head: str, vocab_size: int,
            input_name: str):
    """(the model input, the sequence it reads); checks the shape against the input kind."""
    shape = tuple(input_shape)
    tokens = vocab_size > 0
    ranks = (1,) if tokens else (2, 3)
    if vocab_size < 0 or len(shape) not in ranks or min(shape, default=0) < 1:
        expected = "(sequence_length,) with vocab_size > 0" if tokens else (
            "(sequence_length, num_features) or (height, width, channels) with vocab_size = 0")
        raise ValueError(
            f"input_shape must be {expected}. Received: input_shape={shape!r}, "
            f"vocab_size={vocab_size!r}"
        )
    check_head(num_outputs, head)
    inputs = keras.Input(shape=shape, dtype="int32" if tokens else "float32", name=input_name)
    if len(shape) == 3:  # an image: its rows are the sequence
        return inputs, layers.Reshape((shape[0], shape[1] * shape[2]), name="rows")(inputs)
    return inputs, inputs


def _head(x, num_outputs: int, head: str, dense_units: int, dropout: float):
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", name="head_dense")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return output_layer(x, num_outputs, head)


def build_rnn_classifier(
    input_shape: Sequence[int],
    num_outputs: int,
    vocab_size: int = 0,
    cell: str = "lstm",
    units: int = 64,
    num_layers: int = 1,
    bidirectional: bool = False,
    embedding_dim: int = 32,
    dense_units: int = 0,
    dropout: float = 0.0,
    input_name: str = "sequence",
    head: str = CLASSIFICATION,
    name: str = "rnn",
) -> keras.Model:
    """Builds an LSTM or GRU classifier (or regressor).

    Args:
      input_shape: ``(sequence_length,)`` for token ids, ``(sequence_length, num_features)``
        for float vectors, ``(height, width, channels)`` for images read row by row; the
        sequence length is fixed.
      num_outputs: Classes of the softmax output (1 for a regression head).
      vocab_size: Token vocabulary size (ids 0..vocab_size-1, 0 is padding); 0 for float input.
      cell: ``lstm`` or ``gru``.
      units: Units per recurrent layer.
      num_layers: Stacked recurrent layers.
      bidirectional: Wrap each recurrent layer in ``Bidirectional``.
      embedding_dim: Token embedding size (token input only).
      dense_units: Hidden dense layer before the output (0: none).
      dropout: Dropout before the output layer.
      input_name: Name of the model input.
      head: ``classification`` (softmax) or ``regression`` (one linear unit).
      name: Model name.

    Returns:
      An uncompiled ``keras.Model`` mapping sequences to class probabilities (or a value).
    """
    if cell not in RNN_CELLS:
        raise ValueError(f"cell must be one of {RNN_CELLS}. Received: cell={cell!r}")
    if units < 1 or num_layers < 1:
        raise ValueError(f"units and num_layers must be >= 1. Received: {units!r}, {num_layers!r}")
    inputs, x = _inputs(input_shape, num_outputs, head, vocab_size, input_name)
    if vocab_size:
        x = layers.Embedding(vocab_size, embedding_dim, name="token_embedding")(x)
    layer_class = layers.LSTM if cell == "lstm" else layers.GRU
    for i in range(1, num_layers + 1):
        rnn = layer_class(units, return_sequences=i < num_layers, name=f"block{i}_{cell}")
        if bidirectional:
            rnn = layers.Bidirectional(rnn, name=f"block{i}_bidirectional")
        x = rnn(x)
    return keras.Model(inputs, _head(x, num_outputs, head, dense_units, dropout), name=name)


class PositionEmbedding(layers.Layer):
    """Adds a learned embedding of each position to the input vectors."""

    def __init__(self, sequence_length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.dim = dim
        self.positions = layers.Embedding(sequence_length, dim, name="embedding")

    def call(self, x):
        import keras.ops as ops

        return x + self.positions(ops.arange(self.sequence_length))

    def get_config(self) -> dict:
        return {**super().get_config(), "sequence_length": self.sequence_length, "dim": self.dim}


def build_transformer_classifier(
    input_shape: Sequence[int],
    num_outputs: int,
    vocab_size: int = 0,
    embed_dim: int = 32,
    num_heads: int = 2,
    ff_dim: int = 64,
    num_layers: int = 1,
    dense_units: int = 0,
    dropout: float = 0.1,
    input_name: str = "sequence",
    head: str = CLASSIFICATION,
    name: str = "transformer",
) -> keras.Model:
    """Builds a Transformer-encoder classifier.

    Token (or projected feature) embeddings plus learned position embeddings, then
    ``num_layers`` blocks of multi-head self-attention and a feed-forward network, each with
    a residual connection and layer norm; mean pooling over positions; softmax head.

    Args:
      input_shape: ``(sequence_length,)`` for token ids, ``(sequence_length, num_features)``
        for float vectors, ``(height, width, channels)`` for images read row by row; the
        number of positions is fixed.
      num_outputs: Classes of the softmax output (1 for a regression head).
      vocab_size: Token vocabulary size; 0 for float input.
      embed_dim: Model width.
      num_heads: Attention heads (``embed_dim`` must divide by it).
      ff_dim: Hidden units of the feed-forward network.
      num_layers: Encoder blocks.
      dense_units: Hidden dense layer before the output (0: none).
      dropout: Dropout in the blocks and before the output.
      input_name: Name of the model input.
      head: ``classification`` (softmax) or ``regression`` (one linear unit).
      name: Model name.

    Returns:
      An uncompiled ``keras.Model`` mapping sequences to class probabilities (or a value).
    """
    if num_heads < 1 or embed_dim % num_heads:
        raise ValueError(
            f"embed_dim must be a multiple of num_heads. Received: embed_dim={embed_dim!r}, "
            f"num_heads={num_heads!r}"
        )
    inputs, x = _inputs(input_shape, num_outputs, head, vocab_size, input_name)
    if vocab_size:
        x = layers.Embedding(vocab_size, embed_dim, name="token_embedding")(x)
    else:
        x = layers.Dense(embed_dim, name="feature_projection")(x)
    x = PositionEmbedding(input_shape[0], embed_dim, name="position_embedding")(x)
    for i in range(1, num_layers + 1):
        attention = layers.MultiHeadAttention(
            num_heads, embed_dim // num_heads, dropout=dropout, name=f"block{i}_attention"
        )(x, x)
        x = layers.LayerNormalization(name=f"block{i}_norm1")(
            layers.Add(name=f"block{i}_residual1")([x, attention])
        )
        ff = layers.Dense(ff_dim, activation="relu", name=f"block{i}_ff1")(x)
        ff = layers.Dense(embed_dim, name=f"block{i}_ff2")(ff)
        if dropout:
            ff = layers.Dropout(dropout, name=f"block{i}_dropout")(ff)
        x = layers.LayerNormalization(name=f"block{i}_norm2")(
            layers.Add(name=f"block{i}_residual2")([x, ff])
        )
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, _head(x, num_outputs, head, dense_units, dropout), name=name)
