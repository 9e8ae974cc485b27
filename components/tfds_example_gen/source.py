"""A TFDS dataset as a tf.Example source: find it, check it, plan and convert its features.

Everything here runs before any Beam work (the executor's checks and a pre-run check share
``resolve_source``), so a wrong name, a dataset that is not prepared, an unknown split or an
unknown feature is reported in one line naming what was received and what was expected.

Conversion rules (TFDS feature -> tf.Example feature):
  - ``Image`` / ``Video``: a flat float list of the raw pixel values (row-major, HWC); the
    shape is recorded in the plan (and per example as ``<name>_shape`` when not static).
  - integer, bool and ``ClassLabel`` features: an int64 list; ClassLabel names are recorded.
  - float features: a flat float list.
  - ``Text`` and other string features: a bytes list.
Nested ``FeaturesDict`` leaves are addressed by path (``objects/label``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dlpipe.errors import DlpipeError

FLOAT, INT, BYTES = "float", "int", "bytes"
SHAPE_SUFFIX = "_shape"


@dataclasses.dataclass(frozen=True)
class FeaturePlan:
    """How one TFDS feature becomes one tf.Example feature."""

    source: str
    """Path of the TFDS feature (``image``, ``objects/label``)."""
    name: str
    """Name of the tf.Example feature."""
    kind: str
    """``float``, ``int`` or ``bytes``."""
    shape: tuple[int | None, ...]
    """TFDS shape; ``None`` for a dimension that varies between examples."""
    tfds_type: str
    """The TFDS feature connector's class name (``Image``, ``ClassLabel``, ``Text``...)."""
    names: tuple[str, ...] = ()
    """Class names of a ``ClassLabel`` feature."""

    @property
    def records_shape(self) -> bool:
        """Whether each example carries ``<name>_shape`` (a multi-dimensional varying shape)."""
        return len(self.shape) >= 2 and None in self.shape and self.kind != BYTES

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "shape": [-1 if s is None else s for s in self.shape],
            "tfds_type": self.tfds_type,
        }
        if self.names:
            d["names"] = list(self.names)
        if self.records_shape:
            d["shape_feature"] = self.name + SHAPE_SUFFIX
        return d


@dataclasses.dataclass
class TfdsSource:
    """A loaded, prepared TFDS dataset with checked splits and a feature plan."""

    builder: Any
    """The ``tfds.core.DatasetBuilder`` (prepared)."""
    splits: dict[str, str]
    """TFDS split spec -> output split name, in output order."""
    split_counts: dict[str, int]
    """TFDS split spec -> number of examples."""
    plan: list[FeaturePlan]

    @property
    def full_name(self) -> str:
        return self.builder.info.full_name

    def features_json(self) -> str:
        """The plan as JSON ``{name: {source, kind, shape, tfds_type[, names]}}``."""
        return json.dumps({p.name: p.describe() for p in self.plan}, sort_keys=True)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _prepared_names(data_dir: str | None) -> list[str]:
    if not data_dir or not os.path.isdir(data_dir):
        return []
    return sorted(
        d for d in os.listdir(data_dir)
        if not d.startswith(("_", ".")) and d != "downloads"
        and os.path.isdir(os.path.join(data_dir, d))
    )


def _unknown_dataset(name: str, data_dir: str | None) -> DlpipeError:
    import tensorflow_datasets as tfds

    base = name.split(":")[0].split("/")[0]
    # Without community datasets: listing those reads a registry over the network.
    known = list(tfds.list_builders(with_community_datasets=False)) + _prepared_names(data_dir)
    close = difflib.get_close_matches(base, known, n=5, cutoff=0.6)
    hint = f"Close names: {', '.join(close)}." if close else "No close names."
    where = f"data_dir {data_dir}" if data_dir else "the default data_dir"
    return DlpipeError(
        f"Unknown TFDS dataset {name!r}: no registered builder of that name and no prepared "
        f"copy in {where}. {hint} Expected a name from tfds.list_builders() or a dataset "
        f"prepared in data_dir."
    )


def _way_out(name: str, builder: Any) -> str:
    manual = (
        " with its manually downloaded files in download_config.manual_dir"
        if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None) else ""
    )
    return (
        f"Prepare it where it can be downloaded, with "
        f"tfds.builder({name!r}, data_dir=DIR).download_and_prepare(){manual}, then copy "
        f"DIR/{builder.info.full_name} to {builder.data_path}; or set data_dir to a "
        f"directory where it is prepared."
    )


def _construction_error(name: str, e: Exception) -> DlpipeError:
    """A bad version or config: TFDS' reason, and what the dataset has."""
    import tensorflow_datasets as tfds

    cause = _first_line(e)
    if cause.startswith("Failed to construct dataset") and '": ' in cause:
        cause = cause.split('": ', 1)[1]  # drop TFDS' restatement of the arguments
    cause = cause.split(" Here are ")[0].rstrip(" .:")
    expected = "a version and config the dataset has"
    try:
        cls = tfds.builder_cls(name.split(":")[0].split("/")[0])
        configs = [c.name for c in getattr(cls, "BUILDER_CONFIGS", None) or []]
        versions = sorted({str(v) for v in [cls.VERSION, *cls.SUPPORTED_VERSIONS] if v})
        if configs:
            expected += f" (configs: {', '.join(configs)})"
        if versions:
            expected += f" (versions: {', '.join(versions)})"
    except Exception:  # only the hint is lost
        pass
    return DlpipeError(f"Cannot load TFDS dataset {name!r}: {cause}. Expected {expected}.")


def load_builder(
    dataset: str,
    version: str | None = None,
    data_dir: str | None = None,
    download: bool = False,
    manual_dir: str | None = None,
) -> Any:
    """Returns the prepared ``tfds.core.DatasetBuilder`` of ``dataset``.

    A dataset that is not prepared in ``data_dir`` is downloaded and prepared only when
    ``download`` is set: offline, TFDS retries a download for minutes before failing, so
    the default is to fail at once with the way out.

    Args:
      dataset: TFDS name, optionally with a config (``imdb_reviews/plain_text``).
      version: Dataset version (``3.0.1``); default the builder's current version.
      data_dir: Where prepared datasets live; default TFDS's (``~/tensorflow_datasets``).
      download: Download and prepare the dataset if it is not prepared.
      manual_dir: Directory of manually downloaded files, for datasets that need them.

    Raises:
      DlpipeError: unknown name, version or config; dataset not prepared (and not
        downloadable).
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import registered

    name = f"{dataset}:{version}" if version else dataset
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except registered.DatasetNotFoundError:
        raise _unknown_dataset(name, data_dir) from None
    except Exception as e:  # a bad version or config: TFDS raises several kinds
        raise _construction_error(name, e) from None
    if builder.is_prepared():
        return builder
    if not download:
        raise DlpipeError(
            f"TFDS dataset {builder.info.full_name!r} is not prepared in data_dir "
            f"{builder.data_dir_root} and downloading is off (download=False). "
            + _way_out(name, builder)
        )
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        builder.download_and_prepare(download_config=config)
    except Exception as e:  # network, checksum, manual-download and disk errors alike
        raise DlpipeError(
            f"Cannot download or prepare TFDS dataset {builder.info.full_name!r} into data_dir "
            f"{builder.data_dir_root}: {_first_line(e)}. " + _way_out(name, builder)
        ) from None
    return builder


def split_counts(builder: Any, splits: Sequence[str]) -> dict[str, int]:
    """Number of examples per TFDS split spec; checks every spec exists.

    Raises:
      DlpipeError: an unknown split or a bad slice, naming the splits the dataset has.
    """
    available = builder.info.splits
    have = ", ".join(f"{k} ({v.num_examples})" for k, v in sorted(available.items()))
    counts = {}
    for spec in splits:
        try:
            n = available[spec].num_examples
        except Exception as e:  # KeyError, ValueError and AssertionError from TFDS' parser
            raise DlpipeError(
                f"TFDS dataset {builder.info.full_name!r} has no split {spec!r} "
                f"({_first_line(e)}). Expected one of: {have}; slices such as "
                f"'train[:80%]' or 'train[:1000]' are allowed."
            ) from None
        if n == 0:
            raise DlpipeError(
                f"TFDS split {spec!r} of {builder.info.full_name!r} holds no examples. "
                f"Available: {have}."
            )
        counts[spec] = n
    return counts


def _leaves(features: Any, prefix: str = "", in_sequence: bool = False):
    import tensorflow_datasets as tfds

    for key, feature in features.items():
        path = f"{prefix}{key}"
        if isinstance(feature, tfds.features.FeaturesDict):
            yield from _leaves(feature, path + "/", in_sequence)
        elif isinstance(feature, tfds.features.Sequence) and isinstance(
            feature.feature, tfds.features.FeaturesDict
        ):
            yield from _leaves(feature.feature, path + "/", True)
        else:
            yield path, feature, in_sequence


def _plan_one(path: str, name: str, feature: Any, in_sequence: bool) -> FeaturePlan | str:
    """A plan, or the reason the feature cannot be converted."""
    import tensorflow_datasets as tfds

    tfds_type = type(feature).__name__
    shape = feature.shape
    dtype = feature.np_dtype
    if not isinstance(shape, tuple) or isinstance(dtype, dict):
        return f"{path} ({tfds_type}: composite)"
    shape = ((None,) if in_sequence else ()) + tuple(shape)
    dtype = np.dtype(dtype)
    names: tuple[str, ...] = ()
    if isinstance(feature, (tfds.features.Image, tfds.features.Video)):
        kind = FLOAT  # raw pixel values, as the image tasks' models read them
    elif np.issubdtype(dtype, np.floating):
        kind = FLOAT
    elif np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        kind = INT
        if isinstance(feature, tfds.features.ClassLabel) and feature.names:
            names = tuple(feature.names)
    elif dtype.kind in ("O", "S", "U"):
        kind = BYTES
    else:
        return f"{path} ({tfds_type}, dtype {dtype})"
    return FeaturePlan(path, name, kind, shape, tfds_type, names)


def plan_features(features: Any, feature_map: Mapping[str, str] | None = None
                  ) -> list[FeaturePlan]:
    """Plans the tf.Example features of a TFDS ``FeaturesDict``.

    Args:
      features: ``builder.info.features``.
      feature_map: TFDS feature path -> tf.Example name; only these are written. Default:
        every feature, nested paths with ``/`` replaced by ``_``.

    Raises:
      DlpipeError: an unknown feature in ``feature_map``, two features with one name, or a
        feature that cannot be converted.
    """
    leaves = {path: (feature, seq) for path, feature, seq in _leaves(features)}
    if feature_map is None:
        feature_map = {path: path.replace("/", "_") for path in leaves}
    unknown = [k for k in feature_map if k not in leaves]
    if unknown:
        raise DlpipeError(
            f"feature_map names TFDS features the dataset does not have: "
            f"{', '.join(map(repr, unknown))}. Expected some of: {', '.join(leaves)}."
        )
    names = list(feature_map.values())
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or any(not n for n in names):
        raise DlpipeError(
            f"feature_map must give each feature its own non-empty name. Received: "
            f"feature_map={dict(feature_map)!r}."
        )
    plan, bad = [], []
    for path, name in feature_map.items():
        feature, seq = leaves[path]
        result = _plan_one(path, name, feature, seq)
        (plan if isinstance(result, FeaturePlan) else bad).append(result)
    if bad:
        raise DlpipeError(
            f"Cannot write these TFDS features as tf.Example features: {', '.join(bad)}. "
            f"Expected images, text, class labels or numeric tensors; leave the others out "
            f"with feature_map."
        )
    taken = {p.name for p in plan}
    clash = [p.name + SHAPE_SUFFIX for p in plan if p.records_shape and
             p.name + SHAPE_SUFFIX in taken]
    if clash:
        raise DlpipeError(f"feature_map names clash with shape features: {', '.join(clash)}.")
    return plan


def _value(example: Mapping[str, Any], path: str) -> Any:
    value: Any = example
    for key in path.split("/"):
        value = value[key]
    return value


def to_example(example: Mapping[str, Any], plan: Sequence[FeaturePlan]) -> bytes:
    """Serializes one TFDS example (numpy values, as ``tfds.as_numpy`` gives) per ``plan``."""
    import tensorflow as tf

    feature = {}
    for p in plan:
        value = np.asarray(_value(example, p.source))
        if p.kind == FLOAT:
            feature[p.name] = tf.train.Feature(
                float_list=tf.train.FloatList(value=value.astype(np.float32).ravel()))
        elif p.kind == INT:
            feature[p.name] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=value.astype(np.int64).ravel()))
        else:
            items = [v.encode() if isinstance(v, str) else bytes(v) for v in value.ravel()]
            feature[p.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=items))
        if p.records_shape:
            feature[p.name + SHAPE_SUFFIX] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=list(value.shape)))
    # Deterministic: ExampleGen's hash split hashes these bytes, and a map's order may vary.
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def resolve_source(
    dataset: str,
    splits: Mapping[str, str],
    version: str | None = None,
    data_dir: str | None = None,
    feature_map: Mapping[str, str] | None = None,
    download: bool = False,
    manual_dir: str | None = None,
) -> TfdsSource:
    """Loads and checks a TFDS source; the check to run before a pipeline, too.

    Args:
      dataset, version, data_dir, download, manual_dir: see ``load_builder``.
      splits: TFDS split spec (``train``, ``train[:80%]``) -> output split name.
      feature_map: see ``plan_features``.

    Raises:
      DlpipeError: see ``load_builder``, ``split_counts`` and ``plan_features``.
    """
    builder = load_builder(dataset, version, data_dir, download, manual_dir)
    counts = split_counts(builder, splits)
    plan = plan_features(builder.info.features, feature_map)
    return TfdsSource(builder, dict(splits), counts, plan)
