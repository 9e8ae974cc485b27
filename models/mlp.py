"""A multilayer perceptron for tabular features (pure builder: it never trains)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from models.heads import CLASSIFICATION, check_head, output_layer


def build_mlp(
    input_shape: int | Sequence[int],
    num_outputs: int,
    hidden_units: Sequence[int] = (32, 16),
    dropout: float = 0.0,
    input_name: str = "features",
    head: str = CLASSIFICATION,
    name: str = "mlp",
) -> keras.Model:
    """Builds an MLP over (already normalized) features; an image input is flattened.

    Args:
      input_shape: Shape of one input, ``(num_features,)`` or an image's ``(h, w[, c])``,
        or the length of the vector as an int.
      num_outputs: Classes of the softmax output (1 for a regression head).
      hidden_units: Units of each hidden layer.
      dropout: Dropout after each hidden layer.
      input_name: Name of the model input.
      head: ``classification`` (softmax) or ``regression`` (one linear unit).
      name: Model name.

    Returns:
      An uncompiled ``keras.Model`` mapping features to class probabilities (or a value).
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ValueError(
            f"input_shape must be (num_features,) or an image's (h, w[, c]) with positive "
            f"sizes. Received: input_shape={input_shape!r}"
        )
    check_head(num_outputs, head)
    if any(u < 1 for u in hidden_units):
        raise ValueError(f"hidden_units must be positive. Received: {tuple(hidden_units)!r}")
    inputs = keras.Input(shape=shape, name=input_name)
    x = layers.Flatten(name="flatten")(inputs) if len(shape) > 1 else inputs
    for i, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"block{i}_dense")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"block{i}_dropout")(x)
    return keras.Model(inputs, output_layer(x, num_outputs, head), name=name)
