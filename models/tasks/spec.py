"""What a task is, by configuration alone: the config's ``task:`` section and its resolution.

``TaskSpec`` is what a user writes (``kind``, ``label``, optional overrides). ``resolve``
completes it from a ``DataProfile`` (what the input check read from the data: columns and
their types, image shapes, class names a source declares) into a ``Task``: every fact the
Transform, the Trainer, the exports, the evaluator and the reports need, fixed before
anything runs. The ``Task`` reaches the TFX components through their ``custom_config``
(``Task.to_dict``), is recorded with each run and inside each exported model.

A config that cannot work (a label that is not in the data, a regression label holding
strings, a text kind on image data) fails in ``resolve`` with one line naming what was
wrong and what was expected. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from dlpipe.errors import ConfigError
from dlpipe.settings import setting

IMAGE_CLASSIFICATION = "image_classification"
TABULAR_CLASSIFICATION = "tabular_classification"
TABULAR_REGRESSION = "tabular_regression"
TEXT_CLASSIFICATION = "text_classification"
AUDIO_CLASSIFICATION = "audio_classification"
RETRIEVAL = "retrieval"
VAE = "vae"
GAN = "gan"
KINDS = (IMAGE_CLASSIFICATION, TABULAR_CLASSIFICATION, TABULAR_REGRESSION,
         TEXT_CLASSIFICATION, AUDIO_CLASSIFICATION, RETRIEVAL, VAE, GAN)
IMAGE_KINDS = (IMAGE_CLASSIFICATION, VAE, GAN)
TABULAR_KINDS = (TABULAR_CLASSIFICATION, TABULAR_REGRESSION)
CLASSIFICATION_KINDS = (IMAGE_CLASSIFICATION, TABULAR_CLASSIFICATION, TEXT_CLASSIFICATION,
                        AUDIO_CLASSIFICATION)
GENERATIVE_KINDS = (VAE, GAN)

RECALL = "recall_at_k"
"""The retrieval kind's metric: the share of held-out interactions whose item is among the
user's k recommended items (top-k categorical accuracy over the catalogue)."""

INT, FLOAT, STRING = "int", "float", "string"
"""Column types, as CsvExampleGen and tf.Example give them (int64, float, bytes)."""

DISTINCT_CAP = 1000
"""A profile counts distinct values up to this many per column (then: "more than")."""
PADDING_ID, OOV_ID = 0, 1
"""Token ids of the text kind: 0 pads, 1 is any word outside the vocabulary."""


def transformed_name(key: str) -> str:
    """The name of a feature after the Transform (``image`` -> ``image_xf``)."""
    return f"{key}_xf"


def vocab_name(key: str) -> str:
    """The name of the Transform vocabulary of a feature (an asset of the transform graph)."""
    return f"{key}_vocab"


TABULAR_INPUT = transformed_name("features")
"""The tabular kinds' model input: one float32 vector per example."""


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """The config's ``task:`` section. Empty values are filled from the data by ``resolve``."""

    kind: str = setting(
        IMAGE_CLASSIFICATION,
        "What the model does: image_classification, tabular_classification, "
        "tabular_regression, text_classification, audio_classification (e.g. keyword "
        "spotting), retrieval (recommend items to users from interactions), vae "
        "(encode/decode images) or gan (generate images).",
        choices=KINDS,
    )
    label: str = setting(
        "label",
        "The label column or feature. Classes may be strings or integers; regression labels "
        "are numbers. Generative kinds read it only for the report.",
    )
    classes: list = setting(
        None,
        "Class names in output order, pinning the class list (recommended for production: "
        "class ids then never change between versions). Empty: the label's values in the "
        "data, sorted (numbers numerically), or the class names the source declares (image "
        "folder subfolders, TFDS ClassLabel names).",
        default_factory=list,
    )
    label_unit: str = setting(
        "", "Regression: the label's unit, for the summary, report and model card (e.g. 'g')."
    )
    image: str = setting("image", "Image kinds: the feature holding the image's pixels.")
    image_shape: list = setting(
        None,
        "Image kinds: [height, width, channels]. Empty: from the data (TFDS feature spec, "
        "image folder, bundled data; a flat TFRecord feature of n*n values is read as an "
        "n x n grey image). Set for an image folder whose images differ in size to resize "
        "them to it; elsewhere it must match the data (images are never silently resized).",
        default_factory=list,
    )
    text: str = setting("text", "Text kind: the feature holding the raw text.")
    vocab_size: int = setting(
        10000, "Text kind: most token ids (the 2 reserved ones plus the most frequent words "
        "of the train split).", minimum=3,
    )
    sequence_length: int = setting(
        128, "Text kind: tokens per text the model reads (the last ones; padded at the front).",
        minimum=1,
    )
    audio: str = setting("audio", "Audio kind: the feature holding the waveform's samples.")
    sample_rate: int = setting(
        0, "Audio kind: samples per second. 0: from the data (an audio folder is resampled "
        "to 16000; a TFDS Audio feature declares its rate); elsewhere it must match the "
        "data.", minimum=0,
    )
    clip_seconds: float = setting(
        1.0, "Audio kind: the clip length the model hears; shorter clips are padded with "
        "silence at the end, longer ones cut.", minimum=0.1,
    )
    user: str = setting("user_id", "Retrieval: the column identifying the user.")
    item: str = setting("item_id", "Retrieval: the column identifying the item the user "
                        "interacted with (what the model learns to recommend).")
    top_k: int = setting(10, "Retrieval: items recommended per user (serving) and the k of "
                         "the evaluation's recall@k.", minimum=1)
    numeric: list = setting(
        None, "Tabular kinds: columns to treat as numbers (imputed with the train mean, "
        "z-scored). Empty: by the rule (see categorical).", default_factory=list,
    )
    categorical: list = setting(
        None,
        "Tabular kinds: columns to treat as categories (a vocabulary of the train split's "
        "most frequent values, one-hot, with one slot for missing or unseen values). Empty: "
        "by the rule: string columns are categorical, float columns numeric, integer "
        "columns categorical when they take at most task.max_categories distinct values.",
        default_factory=list,
    )
    ignore: list = setting(
        None, "Tabular kinds: columns the model does not read (ids, timestamps, leaks).",
        default_factory=list,
    )
    max_categories: int = setting(
        10, "Tabular kinds: an integer column with at most this many distinct values is "
        "categorical (the rule of task.categorical).", minimum=0,
    )
    vocab_top_k: int = setting(
        100, "Tabular kinds: values kept per categorical column (the most frequent of the "
        "train split); rarer, unseen and missing values share one extra slot.", minimum=1,
    )
    module_file: str = setting(
        "",
        "A Python file of your own (as TFX's module_file; no PYTHONPATH needed) that may "
        "define preprocessing_fn(inputs, task), a model builder named by model.builder, or "
        "run_fn(fn_args, task) returning a trained Keras model. A relative path is taken "
        "from the config file's directory.",
    )


@dataclasses.dataclass(frozen=True)
class Column:
    """What the input check saw of one column or feature.

    Attributes:
      name: The column (CSV) or feature (tf.Example) name.
      dtype: ``int``, ``float`` or ``string``.
      present: Examples holding a value.
      missing: Examples without one (an empty CSV field, an absent or empty feature).
      distinct: Distinct values, or None when more than ``DISTINCT_CAP``.
      values: The distinct values, sorted, when there are at most ``DISTINCT_CAP``.
      size: The most values one example holds (1 for a scalar column).
    """

    name: str
    dtype: str
    present: int = 0
    missing: int = 0
    distinct: int | None = None
    values: tuple = ()
    size: int = 1


@dataclasses.dataclass(frozen=True)
class DataProfile:
    """What the input check read from the data, for ``resolve``.

    Attributes:
      source: What was read, for messages (``CSV files under /data``, ``TFDS mnist``).
      examples: Examples read.
      columns: Column or feature name -> its ``Column``.
      image_shape: ``(height, width, channels)`` where the source knows it (image folder,
        TFDS image feature, bundled images); None otherwise.
      image_shapes_differ: An image folder holds images of several sizes (resizing needs
        an explicit task.image_shape).
      resizable: The images are decoded from files (an image folder), so they can be
        resized to an explicit task.image_shape.
      class_names: Label index -> class name, where the source names its classes (image
        folder subfolders, TFDS ClassLabel); the label column then holds the indices.
      text_features: Features the source declares as free text (TFDS Text).
      sample_rate: Audio sources: samples per second of the waveforms (audio folder: the
        rate it resamples to; TFDS Audio: the declared rate).
      audio_scale: Audio sources: the sample value of full scale (1.0 for float waveforms
        in [-1, 1], 32768 for 16-bit integers).
      kind: What the source provides: ``images``, ``text``, ``audio``, ``table`` or
        ``examples`` (tf.Example of any content).
    """

    source: str
    examples: int
    columns: Mapping[str, Column]
    image_shape: tuple[int, int, int] | None = None
    image_shapes_differ: bool = False
    resizable: bool = False
    class_names: tuple[str, ...] = ()
    text_features: tuple[str, ...] = ()
    sample_rate: int | None = None
    audio_scale: float | None = None
    kind: str = "examples"


@dataclasses.dataclass(frozen=True)
class Task:
    """A resolved task: the spec with every fact the data decided.

    Attributes:
      kind: One of ``KINDS``.
      label: The label column or feature.
      label_dtype: ``int``, ``float`` or ``string`` (empty: no label in the data).
      classes: Class names in output order (classification kinds).
      class_keys: The label's raw value for each class, as a string (``"0"``, ``"Adelie"``):
        what the Transform looks up to get the class id.
      label_unit: Regression: the label's unit, for people.
      image, image_shape: Image kinds: the feature and ``(height, width, channels)``.
      resize: Image folders only: images are resized to ``image_shape``.
      text, vocab_size, sequence_length: Text kind.
      audio, sample_rate, audio_samples, audio_scale: Audio kind: the waveform feature, its
        rate, the clip length in samples and the sample value of full scale.
      user, item, top_k: Retrieval: the user and item columns (``label`` is the item
        column: the item is what the model predicts) and the items recommended per user.
      numeric, categorical: Tabular kinds: the columns the model reads, by treatment.
      feature_dtypes: Tabular kinds: column -> raw type (``int``, ``float``, ``string``).
      category_sizes: Tabular kinds: categorical column -> values its vocabulary keeps (the
        smaller of ``vocab_top_k`` and its distinct values in the data).
      module_file: A user module (absolute path), or empty.
      module_sha256: Its content hash, so that editing it re-runs Transform and Trainer.
    """

    kind: str
    label: str
    label_dtype: str = ""
    classes: tuple[str, ...] = ()
    class_keys: tuple[str, ...] = ()
    label_unit: str = ""
    image: str = "image"
    image_shape: tuple[int, ...] = ()
    resize: bool = False
    text: str = "text"
    vocab_size: int = 10000
    sequence_length: int = 128
    audio: str = "audio"
    sample_rate: int = 0
    audio_samples: int = 0
    audio_scale: float = 1.0
    user: str = "user_id"
    item: str = "item_id"
    top_k: int = 10
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    feature_dtypes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    category_sizes: Mapping[str, int] = dataclasses.field(default_factory=dict)
    module_file: str = ""
    module_sha256: str = ""

    # What the kind implies ------------------------------------------------------------
    @property
    def is_classification(self) -> bool:
        return self.kind in CLASSIFICATION_KINDS

    @property
    def is_regression(self) -> bool:
        return self.kind == TABULAR_REGRESSION

    @property
    def is_generative(self) -> bool:
        return self.kind in GENERATIVE_KINDS

    @property
    def is_image(self) -> bool:
        return self.kind in IMAGE_KINDS

    @property
    def is_tabular(self) -> bool:
        return self.kind in TABULAR_KINDS

    @property
    def is_text(self) -> bool:
        return self.kind == TEXT_CLASSIFICATION

    @property
    def is_audio(self) -> bool:
        return self.kind == AUDIO_CLASSIFICATION

    @property
    def is_retrieval(self) -> bool:
        return self.kind == RETRIEVAL

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def features(self) -> tuple[str, ...]:
        """The raw features the model reads (besides the label), in model-input order."""
        if self.is_image:
            return (self.image,)
        if self.is_text:
            return (self.text,)
        if self.is_audio:
            return (self.audio,)
        if self.is_retrieval:
            return (self.user,)
        return (*self.numeric, *self.categorical)

    @property
    def image_size(self) -> int:
        """Values of one flat image feature (height x width x channels)."""
        return math.prod(self.image_shape)

    @property
    def model_input(self) -> str:
        """The Transform output the model reads."""
        if self.is_tabular:
            return TABULAR_INPUT
        if self.is_audio:
            return transformed_name(self.audio)
        if self.is_retrieval:
            return transformed_name(self.user)
        return transformed_name(self.image if self.is_image else self.text)

    @property
    def label_input(self) -> str:
        """The Transform output of the label: the class id (int64), or for regression the
        z-scored label (float32); 0 for an example without a label."""
        return transformed_name(self.label)

    @property
    def label_value_input(self) -> str:
        """Regression: the Transform output of the label in its own units (0 when missing),
        what TFMA compares the ``regress`` outputs with."""
        return transformed_name(f"{self.label}_value")

    @property
    def weight_input(self) -> str:
        """The Transform output weighting each example: 1 with a label value, 0 without (an
        example without a label counts in no loss and no metric)."""
        return transformed_name(f"{self.label}_weight")

    def class_name(self, value: Any) -> str:
        """A raw label value (a class index, an integer or a string, as the examples hold
        it) as its class's name; a value outside the classes as itself."""
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if text in self.class_keys:
            return self.classes[self.class_keys.index(text)]
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (lists for tuples), as it travels in ``custom_config``."""
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """The inverse of ``to_dict``; unknown keys fail with their names."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"Unknown task keys {unknown}; expected some of {sorted(known)}.")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        for key in ("feature_dtypes", "category_sizes"):
            if key in values:
                values[key] = dict(values[key])
        return cls(**values)


# Resolution ------------------------------------------------------------------------------


def _close(name: str, names: Sequence[str]) -> str:
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _listing(names: Sequence[str], limit: int = 12) -> str:
    names = list(names)
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _column(profile: DataProfile, name: str, key: str, what: str) -> Column:
    """The profile's column ``name`` (config key ``key``), or a one-line ConfigError."""
    if name in profile.columns:
        return profile.columns[name]
    raise ConfigError(
        f"Config key '{key}' names {what} {name!r}, which {profile.source} does not have"
        f"{_close(name, list(profile.columns))}. Expected one of: "
        f"{_listing(sorted(profile.columns))}. Received: {key}={name!r}."
    )


def _sorted_values(column: Column) -> tuple[str, ...]:
    """A column's distinct values as class keys, numbers in numeric order."""
    values = column.values
    if column.dtype in (INT, FLOAT):
        values = sorted(values, key=float)
    else:
        values = sorted(values, key=str)
    return tuple(str(v) for v in values)


def _resolve_classes(spec: TaskSpec, profile: DataProfile, label: Column
                     ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(classes, class keys) of a classification task."""
    if label.dtype == FLOAT:
        raise ConfigError(
            f"Config key 'task.label' names {spec.label!r}, which holds non-integer numbers "
            f"in {profile.source}: a class label is a string or an integer. Expected "
            f"task.kind: tabular_regression for a numeric target, or a label column of "
            f"classes. Received: task.kind={spec.kind!r}."
        )
    pinned = tuple(str(c) for c in spec.classes)
    if len(set(pinned)) != len(pinned):
        raise ConfigError(f"Config key 'task.classes' lists a class twice. Received: "
                          f"task.classes={list(spec.classes)!r}.")
    if profile.class_names:
        names = tuple(profile.class_names)
        keys = tuple(str(i) for i in range(len(names)))
        if pinned and set(pinned) != set(names):
            raise ConfigError(
                f"Config key 'task.classes' must list the classes {profile.source} names "
                f"({_listing(names)}), in any order. Received: task.classes={list(pinned)!r}."
            )
        if pinned:  # the pinned order, each class keeping the source's index as its key
            keys = tuple(str(names.index(c)) for c in pinned)
            names = pinned
        return names, keys
    if label.distinct is None:
        raise ConfigError(
            f"Config key 'task.label' names {spec.label!r}, which takes more than "
            f"{DISTINCT_CAP} distinct values in {profile.source}: too many to be classes. "
            f"Expected a label of classes (or task.kind: tabular_regression for a number); "
            f"pin the class list with task.classes if it really has that many."
        )
    found = _sorted_values(label)
    if pinned:
        extra = sorted(set(found) - set(pinned))
        if extra:
            raise ConfigError(
                f"Label {spec.label!r} in {profile.source} takes values that task.classes "
                f"does not list: {_listing(extra)}. Expected task.classes to list every "
                f"class. Received: task.classes={list(pinned)!r}."
            )
        return pinned, pinned
    if len(found) < 2:
        raise ConfigError(
            f"Label {spec.label!r} takes {len(found)} distinct value(s) in {profile.source} "
            f"({_listing(found) or 'none'}): a classifier needs at least 2 classes. "
            f"Expected a label with several classes, or pin task.classes."
        )
    return found, found


def check_image_shape(image_shape: Sequence[Any]) -> tuple[int, ...]:
    """``task.image_shape`` as a tuple (empty: from the data), or a one-line ConfigError."""
    given = tuple(image_shape)
    if given and (len(given) != 3 or not all(isinstance(d, int) and d > 0 for d in given)
                  or given[2] not in (1, 3)):
        raise ConfigError(
            f"Config key 'task.image_shape' must be [height, width, channels] with channels "
            f"1 (grey) or 3 (RGB). Received: task.image_shape={list(image_shape)!r}."
        )
    return given


def _resolve_image_shape(spec: TaskSpec, profile: DataProfile, column: Column | None
                         ) -> tuple[tuple[int, int, int], bool]:
    """(image shape, resize) of an image task; see ``TaskSpec.image_shape``."""
    given = check_image_shape(spec.image_shape)
    known = profile.image_shape
    if known is not None:
        if profile.image_shapes_differ:
            if not given:
                raise ConfigError(
                    f"Images in {profile.source} have different sizes. Expected "
                    f"task.image_shape: [height, width, channels] to resize them to "
                    f"(images are never resized silently)."
                )
            return given, True
        if given and given != tuple(known):
            if profile.resizable:
                return given, True  # image files: resizing was asked for explicitly
            raise ConfigError(
                f"Config key 'task.image_shape' is {list(given)}, but {profile.source} "
                f"holds images of shape {list(known)}. Expected the data's shape (or leave "
                f"it empty). Received: task.image_shape={list(given)!r}."
            )
        return tuple(known), False
    size = column.size if column is not None else 0
    if given:
        if math.prod(given) != size:
            raise ConfigError(
                f"Config key 'task.image_shape' is {list(given)} ({math.prod(given)} values), "
                f"but feature {spec.image!r} in {profile.source} holds {size} values per "
                f"example. Expected matching sizes. Received: "
                f"task.image_shape={list(given)!r}."
            )
        return given, False
    side = math.isqrt(size)
    if size > 1 and side * side == size:
        return (side, side, 1), False
    raise ConfigError(
        f"Feature {spec.image!r} in {profile.source} holds {size} values per example, which "
        f"is not a square grey image. Expected task.image_shape: [height, width, channels] "
        f"with height x width x channels = {size}."
    )


def _resolve_retrieval(spec: TaskSpec, profile: DataProfile, common: dict) -> Task:
    """A retrieval task: user and item columns of scalar ids (strings or integers)."""
    if spec.classes:
        raise ConfigError(f"Config key 'task.classes' applies to classification kinds; "
                          f"task.kind is 'retrieval' (the items are learned from the data). "
                          f"Received: task.classes={list(spec.classes)!r}.")
    columns = {}
    for key in ("user", "item"):
        name = getattr(spec, key)
        column = _column(profile, name, f"task.{key}", f"the {key} column")
        if column.dtype == FLOAT or column.size > 1:
            raise ConfigError(
                f"Config key 'task.{key}' names {name!r}, which holds "
                f"{'lists' if column.size > 1 else 'non-integer numbers'} in "
                f"{profile.source}. Expected one id per example (a string or an integer). "
                f"Received: task.{key}={name!r}.")
        columns[key] = column
    if spec.user == spec.item:
        raise ConfigError(f"Config keys 'task.user' and 'task.item' name the same column "
                          f"{spec.user!r}. Expected two columns.")
    common = {**common, "label": spec.item}
    return Task(**common, label_dtype=columns["item"].dtype, user=spec.user, item=spec.item,
                top_k=spec.top_k, feature_dtypes={spec.user: columns["user"].dtype,
                                                  spec.item: columns["item"].dtype})


def _resolve_sample_rate(spec: TaskSpec, profile: DataProfile) -> int:
    """The audio kind's samples per second: the source's, or ``task.sample_rate``."""
    known = profile.sample_rate
    if known:
        if spec.sample_rate and spec.sample_rate != known:
            raise ConfigError(
                f"Config key 'task.sample_rate' is {spec.sample_rate}, but the waveforms in "
                f"{profile.source} have {known} samples per second. Expected the data's rate "
                f"(or 0). Received: task.sample_rate={spec.sample_rate!r}."
            )
        return int(known)
    if not spec.sample_rate:
        raise ConfigError(
            f"The sample rate of the waveforms in {profile.source} is not recorded in the "
            f"data. Expected task.sample_rate: the samples per second they were recorded at "
            f"(e.g. 16000)."
        )
    return int(spec.sample_rate)


def _resolve_tabular(spec: TaskSpec, profile: DataProfile
                     ) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, str], dict[str, int]]:
    """(numeric, categorical, raw dtypes, vocabulary sizes) of a tabular task, by the rule
    and the overrides."""
    for key in ("numeric", "categorical", "ignore"):
        for name in getattr(spec, key):
            _column(profile, name, f"task.{key}", "column")
            if name == spec.label:
                raise ConfigError(f"Config key 'task.{key}' lists the label {name!r}. "
                                  f"Received: task.{key}={list(getattr(spec, key))!r}.")
    both = sorted(set(spec.numeric) & set(spec.categorical))
    if both:
        raise ConfigError(f"Columns {both} are listed in both task.numeric and "
                          f"task.categorical. Expected each column in at most one.")
    numeric, categorical, dtypes = [], [], {}
    for name, column in profile.columns.items():
        if name == spec.label or name in spec.ignore:
            continue
        if column.size > 1:
            raise ConfigError(
                f"Column {name!r} in {profile.source} holds up to {column.size} values per "
                f"example; a tabular feature holds one. Expected it in task.ignore, or a "
                f"source with one value per column."
            )
        if column.present == 0:
            continue  # an empty column carries nothing (CsvExampleGen drops it too)
        if name in spec.numeric:
            if column.dtype == STRING:
                raise ConfigError(
                    f"Config key 'task.numeric' lists {name!r}, which holds strings in "
                    f"{profile.source} (e.g. {column.values[0] if column.values else '?'!r}). "
                    f"Expected a numeric column. Received: task.numeric={list(spec.numeric)!r}."
                )
            numeric.append(name)
        elif name in spec.categorical or column.dtype == STRING:
            categorical.append(name)
        elif column.dtype == INT and column.distinct is not None \
                and column.distinct <= spec.max_categories:
            categorical.append(name)
        else:
            numeric.append(name)
        dtypes[name] = column.dtype
    if not numeric and not categorical:
        raise ConfigError(
            f"Task {spec.kind!r} has no feature column left in {profile.source} besides the "
            f"label {spec.label!r} (ignored: {list(spec.ignore)}). Expected at least one."
        )
    sizes = {name: min(spec.vocab_top_k, profile.columns[name].distinct or spec.vocab_top_k)
             for name in categorical}
    return tuple(numeric), tuple(categorical), dtypes, sizes


_PROVIDES = {"images": "images", "text": "text", "audio": "audio", "table": "table rows"}


def source_fits(wants: str, provides: str) -> bool:
    """A source that ``provides`` images, text, a table or any tf.Example fits a kind that
    ``wants`` one of them. Text and tables fit each other: a CSV may hold a text column, and
    a text source is a table of its other columns too."""
    return provides in ("examples", wants) or {wants, provides} == {"text", "table"}


def _check_source_kind(spec: TaskSpec, profile: DataProfile) -> None:
    """The source must carry what the kind reads (e.g. no text kind on images)."""
    wants = ("images" if spec.kind in IMAGE_KINDS else "text" if spec.kind == TEXT_CLASSIFICATION
             else "audio" if spec.kind == AUDIO_CLASSIFICATION else "table")
    if source_fits(wants, profile.kind):
        return
    raise ConfigError(
        f"task.kind {spec.kind!r} reads {_PROVIDES[wants]}, but {profile.source} provides "
        f"{_PROVIDES.get(profile.kind, profile.kind)}. Expected an ingest source with "
        f"{_PROVIDES[wants]} (or another task.kind). Received: task.kind={spec.kind!r}."
    )


def resolve(spec: TaskSpec, profile: DataProfile, module_file: str = "",
            module_sha256: str = "") -> Task:
    """Completes ``spec`` from what the input check read.

    Args:
      spec: The config's task section.
      profile: The data profile of the configured source.
      module_file: The user module, as an absolute path (the loader resolved it).
      module_sha256: Its content hash.

    Returns:
      The resolved task.

    Raises:
      ConfigError: one line naming what does not fit and what was expected.
    """
    _check_source_kind(spec, profile)
    common = dict(kind=spec.kind, label=spec.label, label_unit=spec.label_unit,
                  module_file=module_file, module_sha256=module_sha256)
    if spec.kind == RETRIEVAL:  # the item column is the label
        return _resolve_retrieval(spec, profile, common)
    label = profile.columns.get(spec.label)
    if label is None and spec.kind not in GENERATIVE_KINDS:
        _column(profile, spec.label, "task.label", "the label")
    label_dtype = label.dtype if label is not None else ""
    if spec.kind in GENERATIVE_KINDS or spec.kind == TABULAR_REGRESSION:
        if spec.classes:
            raise ConfigError(f"Config key 'task.classes' applies to classification kinds; "
                              f"task.kind is {spec.kind!r}. Received: task.classes="
                              f"{list(spec.classes)!r}.")
        classes, keys = (), ()
    else:
        classes, keys = _resolve_classes(spec, profile, label)

    if spec.kind == TABULAR_REGRESSION and label_dtype == STRING:
        example = label.values[0] if label.values else "?"
        raise ConfigError(
            f"Config key 'task.label' names {spec.label!r}, which holds strings in "
            f"{profile.source} (e.g. {example!r}): tabular_regression needs a numeric label. "
            f"Expected a numeric column, or task.kind: tabular_classification. Received: "
            f"task.label={spec.label!r}."
        )
    if spec.kind in IMAGE_KINDS:
        column = None
        if profile.image_shape is None:
            column = _column(profile, spec.image, "task.image", "image feature")
            if column.dtype == STRING:
                raise ConfigError(
                    f"Feature {spec.image!r} in {profile.source} holds strings; an image "
                    f"feature holds pixel values (floats or integers). Received: "
                    f"task.image={spec.image!r}."
                )
        shape, resize = _resolve_image_shape(spec, profile, column)
        return Task(**common, label_dtype=label_dtype, classes=classes, class_keys=keys,
                    image=spec.image, image_shape=shape, resize=resize)
    if spec.kind == AUDIO_CLASSIFICATION:
        column = _column(profile, spec.audio, "task.audio", "audio feature")
        if column.dtype == STRING:
            raise ConfigError(
                f"Feature {spec.audio!r} in {profile.source} holds strings; the audio kind "
                f"reads a waveform's samples (floats in [-1, 1] or 16-bit integers). Received: "
                f"task.audio={spec.audio!r}."
            )
        rate = _resolve_sample_rate(spec, profile)
        scale = profile.audio_scale or (32768.0 if column.dtype == INT else 1.0)
        return Task(**common, label_dtype=label_dtype, classes=classes, class_keys=keys,
                    audio=spec.audio, sample_rate=rate,
                    audio_samples=max(1, round(spec.clip_seconds * rate)), audio_scale=scale)
    if spec.kind == TEXT_CLASSIFICATION:
        column = _column(profile, spec.text, "task.text", "text feature")
        if column.dtype != STRING:
            raise ConfigError(
                f"Feature {spec.text!r} in {profile.source} holds {column.dtype} values; the "
                f"text kind reads a string feature of raw text. Received: "
                f"task.text={spec.text!r}."
            )
        return Task(**common, label_dtype=label_dtype, classes=classes, class_keys=keys,
                    text=spec.text, vocab_size=spec.vocab_size,
                    sequence_length=spec.sequence_length)
    numeric, categorical, dtypes, sizes = _resolve_tabular(spec, profile)
    return Task(**common, label_dtype=label_dtype, classes=classes, class_keys=keys,
                numeric=numeric, categorical=categorical, feature_dtypes=dtypes,
                category_sizes=sizes)
