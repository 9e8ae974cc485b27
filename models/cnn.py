"""A small convolutional image classifier (pure builder: it never trains)."""

from collections.abc import Sequence

import keras
from keras import layers

from models.heads import CLASSIFICATION, check_head, output_layer


def build_cnn(
    input_shape: Sequence[int],
    num_outputs: int,
    conv_filters: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    dense_units: int = 64,
    dropout: float = 0.1,
    input_name: str = "image",
    head: str = CLASSIFICATION,
    name: str = "cnn",
) -> keras.Model:
    """Builds a CNN that outputs class probabilities (or one regression value).

    Args:
      input_shape: Image shape, ``(height, width)`` or ``(height, width, channels)``.
      num_outputs: Classes of the softmax output (1 for a regression head).
      conv_filters: Filters of each conv block; a block halves the spatial size while it
        is at least 2.
      kernel_size: Convolution kernel size.
      dense_units: Units of the hidden dense layer (0: none).
      dropout: Dropout rate before the output layer.
      input_name: Name of the model's input.
      head: ``classification`` (softmax) or ``regression`` (one linear unit).
      name: Model name, also the prefix of no layer (blocks are named ``block{i}``).

    Returns:
      An uncompiled ``keras.Model`` mapping images to ``(batch, num_outputs)`` outputs.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) not in (2, 3) or min(input_shape) < 1:
        raise ValueError(
            f"input_shape must be (height, width) or (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    check_head(num_outputs, head)
    if not conv_filters:
        raise ValueError(f"conv_filters must not be empty. Received: {conv_filters!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")

    inputs = keras.Input(shape=input_shape, name=input_name)
    x = inputs
    if len(input_shape) == 2:
        x = layers.Reshape((*input_shape, 1), name="add_channel")(x)
    height, width = input_shape[0], input_shape[1]
    for i, filters in enumerate(conv_filters, start=1):
        x = layers.Conv2D(
            filters, kernel_size, padding="same", activation="relu", name=f"block{i}_conv"
        )(x)
        if min(height, width) >= 2:
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
            height, width = height // 2, width // 2
    x = layers.Flatten(name="flatten")(x)
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", name="head_dense")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, output_layer(x, num_outputs, head), name=name)
