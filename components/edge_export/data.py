"""Example data for calibration, parity and the metric: TFRecords of tf.Example or numpy files."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlpipe.examples import read_records, record_files
from models.edge import SERIALIZED_EXAMPLE  # noqa: F401 - re-exported for the loaders below


class DataError(ValueError):
    """Data that cannot feed the edge signature (the message says what and why)."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Inputs ``x`` of shape ``[N, ...]`` and optional integer labels ``y`` of shape ``[N]``."""

    x: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    def take(self, n: int) -> Dataset:
        """The first ``n`` examples."""
        return Dataset(self.x[:n], None if self.y is None else self.y[:n])


def conform(x: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Reshapes ``x`` to ``[N, *shape]``, accepting flat examples of the same size.

    Raises:
      DataError: The per-example size differs, naming both shapes.
    """
    size = int(np.prod(shape))
    per_example = tuple(x.shape[1:])
    if x.ndim < 1 or int(np.prod(per_example)) != size:
        raise DataError(
            f"{what} has per-example shape {per_example} ({int(np.prod(per_example))} values); "
            f"the signature input expects {shape} ({size} values)"
        )
    return x.reshape((len(x), *shape))


def load_arrays(path: str | Path) -> Dataset:
    """Loads ``.npy`` (inputs) or ``.npz`` (``x`` and optional ``y``; else the first array)."""
    path = Path(path)
    if path.suffix == ".npy":
        return Dataset(np.load(path))
    with np.load(path) as npz:
        if "x" in npz:
            return Dataset(npz["x"], npz["y"] if "y" in npz else None)
        first = npz.files[0]
        return Dataset(npz[first])


def tfrecord_files(path: str | Path) -> list[Path]:
    """TFRecord files under ``path`` (a file, or a directory such as ``Split-eval``)."""
    files = record_files(path)
    if not files:
        raise DataError(f"no TFRecord files under {str(path)!r}")
    return files


def load_examples(
    path: str | Path, feature: str, label: str | None = "label", limit: int | None = None,
    label_keys: Sequence[str] | None = None, numeric_label: bool = False,
) -> Dataset:
    """Reads tf.Examples from (gzipped) TFRecords: ``feature`` as inputs, ``label`` as labels.

    Args:
      path: A TFRecord file or a directory of them (``.gz`` files are read as GZIP).
      feature: Feature holding the flattened input (float_list, int64_list or bytes_list),
        or ``SERIALIZED_EXAMPLE``: the serialized example itself.
      label: The label feature (None or missing in the data: no labels).
      limit: Read at most this many examples.
      label_keys: A classifier's class keys (``Task.class_keys``): a label value's class id
        is its key's index (-1 for an example without a label or with an unknown one).
        None: the label feature holds class ids (int64).
      numeric_label: A regressor's label: float values (NaN for an example without one).

    Raises:
      DataError: The feature is missing from an example, naming the keys present.
    """
    from tensorflow.core.example import example_pb2

    xs, ys = [], []
    for file in tfrecord_files(path):
        left = None if limit is None else limit - len(xs)
        for record in read_records([file], left):
            example = example_pb2.Example.FromString(record)
            feats = example.features.feature
            if feature == SERIALIZED_EXAMPLE:
                xs.append(np.asarray([record], dtype=object))
            elif feature not in feats:
                raise DataError(
                    f"tf.Example in {str(file)!r} has no feature {feature!r}; it has "
                    f"{sorted(feats)}"
                )
            else:
                xs.append(_values(feats[feature]))
            if label:
                ys.append(_label(feats, label, label_keys, numeric_label))
        if limit is not None and len(xs) >= limit:
            break
    if not xs:
        raise DataError(f"no examples in {str(path)!r}")
    y = None
    if ys and not all(v is None for v in ys):
        if numeric_label:
            y = np.asarray([np.nan if v is None else v for v in ys], dtype=np.float64)
        else:
            y = np.asarray([-1 if v is None else v for v in ys], dtype=np.int64)
    return Dataset(np.stack(xs), y)


def _label(feats: Any, label: str, keys: Sequence[str] | None, numeric: bool) -> Any:
    """One example's label: a class id, a float, or None without a label value."""
    values = _values(feats[label]) if label in feats else []
    if len(values) == 0:
        return None
    value = values[0]
    if numeric:
        return float(value)
    if keys is None:
        return int(value)
    key = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return keys.index(key) if key in keys else -1


def _values(feature: object) -> np.ndarray:
    kind = feature.WhichOneof("kind")
    if kind == "float_list":
        return np.asarray(feature.float_list.value, dtype=np.float32)
    if kind == "int64_list":
        return np.asarray(feature.int64_list.value, dtype=np.int64)
    if kind == "bytes_list":  # raw text: mapped to numbers by the model's example_signature
        return np.asarray(list(feature.bytes_list.value), dtype=object)
    raise DataError(f"feature of kind {kind!r} has no values; expected float_list, "
                    f"int64_list or bytes_list")


def normal_samples(shape: tuple[int, ...], n: int, seed: int = 0) -> Dataset:
    """``n`` standard normal inputs of ``shape`` (a generator's noise), without labels."""
    rng = np.random.default_rng(seed)
    return Dataset(rng.standard_normal((n, *shape)).astype(np.float32))


def map_with_signature(data: Dataset, loaded: object, signature: str, input_name: str,
                       output: str = "") -> Dataset:
    """Feeds ``data.x`` through a SavedModel signature (e.g. tokenization); keeps labels.

    ``data.x`` goes to the signature's input ``input_name``, or to its only input (e.g.
    serialized examples, ``SERIALIZED_EXAMPLE``, to a signature that parses them). The
    result is the signature's output ``output`` (e.g. the edge input among the Transform
    outputs of ``transform_features``), or its only output.

    Raises:
      DataError: the model has no such signature, it has no such input and more than one,
        or no such output and more than one.
    """
    import tensorflow as tf

    fn = loaded.signatures.get(signature)
    if fn is None:
        raise DataError(f"the model has no signature {signature!r} to map example features "
                        f"to the edge input; it has {sorted(loaded.signatures)}")
    inputs = fn.structured_input_signature[1]
    if input_name not in inputs:
        if len(inputs) != 1:
            raise DataError(f"signature {signature!r} takes {sorted(inputs)}; expected one "
                            f"input, or one named {input_name!r}")
        (input_name,) = inputs
    x = data.x.reshape(len(data.x), -1)
    x = x[:, 0] if x.shape[1] == 1 else x
    out = fn(**{input_name: tf.constant(x.tolist() if x.dtype == object else x)})
    if output in out:
        return Dataset(out[output].numpy(), data.y)
    if len(out) != 1:
        raise DataError(f"signature {signature!r} returns {sorted(out)}; expected one output"
                        f"{f' or one named {output!r}' if output else ''}")
    return Dataset(next(iter(out.values())).numpy(), data.y)


def load_data(
    path: str | Path, feature: str, label: str | None = "label", limit: int | None = None
) -> Dataset:
    """Loads ``.npy``/``.npz`` arrays or tf.Example TFRecords (anything else)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data path {str(path)!r} does not exist")
    if path.suffix in (".npy", ".npz"):
        data = load_arrays(path)
        return data if limit is None else data.take(limit)
    return load_examples(path, feature, label, limit)
