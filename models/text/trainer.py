"""TFX Trainer ``run_fn`` for the text task: build, fit, export with the text contract.

Any sequence builder taking ``vocab_size`` works (``models.sequence.build_rnn_classifier``,
``build_transformer_classifier``): its embedding gets one row per token id the Transform
vocabulary can produce, read from the Transform output rather than configured, so the
model and the vocabulary cannot disagree.
"""

from __future__ import annotations

from typing import Any

import attr

from models import training
from models.text import export, features


def run_fn(fn_args: Any) -> None:
    """TFX Trainer entry point: the shared classifier training with the text contract."""
    import tensorflow_transform as tft

    hparams = dict(fn_args.custom_config["hparams"])
    if "vocab_size" in hparams:
        raise ValueError(
            "train.hparams.vocab_size is set from the Transform vocabulary for the text task; "
            f"remove it. Received: vocab_size={hparams['vocab_size']!r}"
        )
    hparams["vocab_size"] = export.vocab_size(tft.TFTransformOutput(fn_args.transform_output))
    custom_config = {**fn_args.custom_config, "hparams": hparams}
    training.run_classifier(attr.evolve(fn_args, custom_config=custom_config), features,
                            export.export)
