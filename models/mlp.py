"""A multilayer perceptron for tabular features (pure builder: it never trains)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers


def build_mlp(
    input_shape: int | Sequence[int],
    num_classes: int,
    hidden_units: Sequence[int] = (32, 16),
    dropout: float = 0.0,
    input_name: str = "features",
    name: str = "mlp",
) -> keras.Model:
    """Builds an MLP classifier over a vector of (already normalized) features.

    Args:
      input_shape: Shape of one input, ``(num_features,)`` (the zoo's contract), or the
        length of the vector as an int.
      num_classes: Classes of the softmax output.
      hidden_units: Units of each hidden layer.
      dropout: Dropout after each hidden layer.
      input_name: Name of the model input.
      name: Model name.

    Returns:
      An uncompiled ``keras.Model`` mapping feature vectors to class probabilities.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if len(shape) != 1 or shape[0] < 1 or num_classes < 2:
        raise ValueError(
            f"input_shape must be (num_features,) with num_features >= 1, and num_classes "
            f">= 2. Received: input_shape={input_shape!r}, num_classes={num_classes!r}"
        )
    if any(u < 1 for u in hidden_units):
        raise ValueError(f"hidden_units must be positive. Received: {tuple(hidden_units)!r}")
    inputs = keras.Input(shape=shape, name=input_name)
    x = inputs
    for i, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"block{i}_dense")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"block{i}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)
