"""TFX Trainer ``run_fn`` for the text task: build, fit, export with the text contract.

Any sequence builder taking ``vocab_size`` works (``models.sequence.build_rnn_classifier``,
``build_transformer_classifier``). ``vocab_size`` is one of the task's ``DERIVED_HPARAMS``:
read from the Transform vocabulary rather than configured, so the model and the vocabulary
cannot disagree.
"""

from __future__ import annotations

from typing import Any

from models import training
from models.text import export, features


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point: the shared classifier training with the text contract."""
    training.run_classifier(fn_args, features, export.export)
