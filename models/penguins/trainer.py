"""TFX Trainer ``run_fn`` for the penguins task: the shared classifier training, then the
penguins export (raw features in, Transform graph inside; see features.py).

Any builder taking ``(num_features, num_classes, **hparams)`` over one float vector works;
the config names ``models.mlp.build_mlp``.
"""

from __future__ import annotations

from typing import Any

from models import training
from models.penguins import export, features


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point: the shared classifier training with the penguins contract."""
    training.run_classifier(fn_args, features, export.export)
