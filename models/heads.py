"""Output heads shared by the zoo's supervised builders: classification or regression.

Every supervised builder takes ``(input_shape, num_outputs, ..., head=...)``: a
``classification`` head is a softmax over ``num_outputs`` classes (>= 2), a ``regression``
head is one linear unit (``num_outputs`` = 1) that predicts the (standardized) label.
"""

from __future__ import annotations

from typing import Any

from keras import layers

CLASSIFICATION, REGRESSION = "classification", "regression"
HEADS = (CLASSIFICATION, REGRESSION)


def check_head(num_outputs: int, head: str) -> None:
    """Raises ValueError unless ``num_outputs`` fits ``head``."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}. Received: head={head!r}")
    if head == CLASSIFICATION and num_outputs < 2:
        raise ValueError(f"A classification head needs num_outputs (classes) >= 2. "
                         f"Received: num_outputs={num_outputs!r}")
    if head == REGRESSION and num_outputs != 1:
        raise ValueError(f"A regression head has one output. Received: "
                         f"num_outputs={num_outputs!r}")


def output_layer(x: Any, num_outputs: int, head: str) -> Any:
    """The model's last layer: class probabilities, or one linear prediction."""
    if head == REGRESSION:
        return layers.Dense(1, name="prediction")(x)
    return layers.Dense(num_outputs, activation="softmax", name="predictions")(x)
