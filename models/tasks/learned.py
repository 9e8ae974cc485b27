"""What a Transform learned, read back from its graph: ranges, statistics, vocabularies.

The exports need these numbers outside the graph: the edge files' normalization recipe, the
regression head's units, the report and ``dlpipe predict``'s pixel range. Affine transforms
(``scale_to_0_1``, ``scale_to_z_score``) are read by feeding the graph two probe values and
solving for the constants, so nothing depends on the analyzers' internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from models.tasks.spec import Task, vocab_name

_PROBE = 1e6
"""A probe far from the data keeps float32 rounding out of the difference."""


def raw_batch(tft_output: Any, values: dict[str, list], size: int) -> dict[str, Any]:
    """A batch of ``size`` raw examples shaped as the schema says: ``values`` for the named
    features, every other feature missing (sparse) or zero / empty (dense); the label only
    when named (the Transform graph then leaves its output out)."""
    batch = {}
    for key, spec in tft_output.raw_feature_spec().items():
        if key in values:
            data = np.asarray(values[key]).reshape(size, -1)
            if isinstance(spec, tf.io.VarLenFeature):
                dense = tf.constant(data, spec.dtype)
                batch[key] = tf.SparseTensor(tf.where(tf.ones_like(dense, tf.bool)),
                                             tf.reshape(dense, [-1]),
                                             tf.shape(dense, tf.int64))
            else:
                batch[key] = tf.reshape(tf.constant(data, spec.dtype), [size, *spec.shape])
        elif isinstance(spec, tf.io.VarLenFeature):
            batch[key] = tf.SparseTensor(tf.zeros([0, 2], tf.int64),
                                         tf.zeros([0], spec.dtype), [size, 1])
        elif isinstance(spec, tf.io.FixedLenFeature):
            batch[key] = tf.zeros([size, *spec.shape], spec.dtype)
    return batch


def _affine(tft_output: Any, layer: Any, feature: str, output: str, column: int | None,
            probes: tuple[float, float]) -> tuple[float, float]:
    """``(offset, scale)`` with ``output = (raw - offset) / scale``, from two probes."""
    spec = tft_output.raw_feature_spec()[feature]
    width = int(np.prod(spec.shape)) if isinstance(spec, tf.io.FixedLenFeature) else 1
    values = {feature: [[probes[0]] * width, [probes[1]] * width]}
    out = layer(raw_batch(tft_output, values, 2))[output].numpy().reshape(2, -1)
    at0, at1 = (float(v) for v in out[:, 0 if column is None else column])
    if at1 == at0:
        raise ValueError(f"The Transform graph maps every value of {feature!r} to the same "
                         f"output {at0}; it learned no range.")
    scale = (probes[1] - probes[0]) / (at1 - at0)
    return probes[0] - at0 * scale, scale


def _float32_digits(value: float) -> float:
    """``value`` to the 6 significant digits a float32 graph computes it with: the probe
    solves 1 / (1/255) in float32, which gives 254.999985 for a range of 0..255."""
    return float(f"{value:.6g}")


def user_preprocessing(task: Task) -> str:
    """``"preprocessing_fn of <file>"`` when ``task.module_file`` replaces the kind's feature
    Transform, else ``""``."""
    from models.zoo import user_function

    if user_function(task.module_file, "preprocessing_fn") is None:
        return ""
    return f"preprocessing_fn of {Path(task.module_file).name}"


def learned_facts(task: Task, tft_output: Any) -> dict[str, Any]:
    """Everything the Transform learned that clients and reports need, JSON-ready.

    Returns:
      ``pixel_range`` (images: raw values mapped to 0 and 1), ``numeric`` (tables: column ->
      ``{"mean", "std"}``), ``categorical`` (tables: column -> vocabulary, most frequent
      first), ``label`` (regression: ``{"mean", "std"}`` of the train split), ``vocab_size``
      (text: token ids, reserved ones included). With a ``preprocessing_fn`` of the user's
      the feature facts are the user's own business: only ``preprocessing`` (whose function
      made the model input), the label's facts and, when the user's Transform wrote the
      vocabulary under the task's name, ``vocab_size``.
    """
    layer = tft_output.transform_features_layer()
    facts: dict[str, Any] = {}
    custom = user_preprocessing(task)
    if custom:
        facts["preprocessing"] = custom
        size = text_vocabulary_size(task, tft_output) if task.is_text else None
        if size is not None:
            facts["vocab_size"] = size
    elif task.is_text:
        facts["vocab_size"] = text_vocabulary_size(task, tft_output)
    elif task.is_image:
        low, width = _affine(tft_output, layer, task.image, task.model_input, None, (0.0, 1.0))
        facts["pixel_range"] = [_float32_digits(low), _float32_digits(low + width)]
    elif task.is_tabular:
        numeric = {}
        for i, key in enumerate(task.numeric):
            mean, std = _affine(tft_output, layer, key, task.model_input, i, (0.0, _PROBE))
            numeric[key] = {"mean": mean, "std": std}
        facts["numeric"] = numeric
        facts["categorical"] = {
            key: [v.decode() if isinstance(v, bytes) else str(v)
                  for v in tft_output.vocabulary_by_name(vocab_name(key))]
            for key in task.categorical
        }
    if task.is_regression:
        mean, std = _affine(tft_output, layer, task.label, task.label_input, None,
                            (0.0, _PROBE))
        facts["label"] = {"mean": mean, "std": std}
    return facts


def text_vocabulary_size(task: Task, tft_output: Any) -> int | None:
    """The size of the text vocabulary Transform wrote under the task's name
    (``vocab_name(task.text)``), reserved tokens included; None if it wrote none."""
    try:
        return int(tft_output.vocabulary_size_by_name(vocab_name(task.text)))
    except (ValueError, OSError, tf.errors.NotFoundError):
        return None
