"""Ingest: the configured source, checked and profiled before anything runs, and its ExampleGen.

``kinds`` holds one record per ``ingest.kind``; ``bundled`` writes the data that ships in
installed packages; ``profile`` checks and profiles each kind of source. ``check_source``
is what the runner (and ``dlpipe init``) call; ``example_gen`` is what the pipeline factory
wires in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlpipe.errors import DlpipeError
from models.tasks.spec import AUDIO_CLASSIFICATION, IMAGE_KINDS, TEXT_CLASSIFICATION, DataProfile
from pipeline.ingest import profile as profiles
from pipeline.ingest.bundled import WRITERS
from pipeline.ingest.kinds import AUDIO_FOLDER, CSV, IMAGE_FOLDER, IMPORT, KINDS, TFDS

if TYPE_CHECKING:
    from models.tasks.spec import Task
    from pipeline.config import PipelineConfig

TFDS_SPLITS = {"train": "train", "test": "eval"}
"""TFDS split -> pipeline split, for ingest.kind 'tfds' when the dataset has a test split."""
TFDS_HASHED = {"train": "all"}
"""... and when it has none (e.g. movielens): its train split, hash-split into train and eval
by ingest.train_buckets : ingest.eval_buckets."""


def tfds_splits(ingest: Any) -> dict[str, str]:
    """``TFDS_SPLITS`` for a dataset with train and test splits, else ``TFDS_HASHED``."""
    from components.tfds_example_gen.source import load_builder

    builder = load_builder(ingest.tfds_name, version=ingest.tfds_version or None,
                           data_dir=ingest.tfds_data_dir or None, download=ingest.tfds_download)
    return TFDS_SPLITS if set(TFDS_SPLITS) <= set(builder.info.splits) else TFDS_HASHED
AUDIO_FOLDER_RATE = 16000
"""The rate an audio folder's clips are resampled to unless task.sample_rate says another."""
"""TFDS split -> pipeline split, for ingest.kind 'tfds'."""
INPUT_CHECKS_FILE = profiles.INPUT_CHECKS_FILE


@dataclasses.dataclass(frozen=True)
class Source:
    """The checked input: its profile, the span read (span patterns), the TFDS feature map."""

    profile: DataProfile
    span: int | None = None
    files: tuple[Path, ...] = ()
    tfds_feature_map: dict[str, str] | None = None

    @property
    def examples(self) -> int:
        return self.profile.examples


def describe(config: PipelineConfig) -> str:
    """The source in a few words, for progress lines."""
    if config.ingest.kind == "tfds":
        return f"TFDS {config.ingest.tfds_name}"
    if config.uses_spans:
        return str(config.data_dir / config.input_pattern)
    return str(config.data_dir)


def check_source(config: PipelineConfig) -> Source:
    """Writes bundled data if the kind has some, then checks and profiles the input.

    Raises:
      DlpipeError: a missing or empty input, a corrupt record, a malformed CSV or image
        folder, a TFDS dataset that is not prepared; one line naming it.
    """
    kind = KINDS[config.ingest.kind]
    data_dir = config.data_dir
    if kind.bundled:
        WRITERS[kind.bundled](data_dir)
    if kind.reader == CSV:
        return Source(profiles.profile_csv(data_dir, kind.pattern, kind.provides,
                                           config.root / INPUT_CHECKS_FILE))
    if kind.reader == IMAGE_FOLDER:
        return Source(profiles.profile_image_folder(data_dir, config.task.image,
                                                    config.task.label))
    if kind.reader == AUDIO_FOLDER:
        return Source(profiles.profile_audio_folder(
            data_dir, config.task.audio, config.task.label,
            config.task.sample_rate or AUDIO_FOLDER_RATE))
    if kind.reader == TFDS:
        task = config.task
        reads = ("image" if task.kind in IMAGE_KINDS else
                 "text" if task.kind == TEXT_CLASSIFICATION else
                 "audio" if task.kind == AUDIO_CLASSIFICATION else "all")
        profile, feature_map = profiles.profile_tfds(
            config.ingest, tfds_splits(config.ingest), task.image, task.text, task.label,
            reads, task.audio)
        return Source(profile, tfds_feature_map=feature_map)
    span = None
    if config.uses_spans:
        files, span = resolve_span(config)
        where = f"span {span} of {config.data_dir / config.input_pattern}"
    else:
        files = profiles.tfrecord_files(data_dir, kind.pattern)
        where = f"the TFRecords in {data_dir}"
    profile = profiles.profile_tfrecords(
        files, where, config.root / INPUT_CHECKS_FILE, image_shape=kind.image_shape,
        kind=kind.provides)
    return Source(profile, span, tuple(files))


def resolve_span(config: PipelineConfig) -> tuple[list[Path], int]:
    """The newest span of a ``{SPAN}`` input pattern and its files.

    Uses ImportExampleGen's own span resolution, so the span checked here is the one its
    driver will read.

    Raises:
      DlpipeError: if no directory matches the pattern, or the span holds no files.
    """
    from tfx.components.example_gen import utils
    from tfx.proto import example_gen_pb2

    split = example_gen_pb2.Input.Split(name="single_split", pattern=config.input_pattern)
    try:
        _, span, _ = utils.calculate_splits_fingerprint_span_and_version(
            str(config.data_dir), [split])
    except (ValueError, FileNotFoundError, OSError) as e:  # no match, missing base dir
        raise DlpipeError(
            f"No input span matches {config.data_dir / config.input_pattern} "
            f"({str(e).splitlines()[0] if str(e) else type(e).__name__}). Expected "
            f"directories such as span-1/, span-2/ holding *.tfrecord* files."
        ) from None
    # The split pattern now has the span filled in: span-{SPAN}/*.gz -> span-2/*.gz.
    files = sorted(p for p in config.data_dir.glob(split.pattern) if p.is_file())
    if not files:
        raise DlpipeError(f"Span {span} ({config.data_dir / split.pattern}) holds no files.")
    return files, span


def example_gen(config: PipelineConfig, task: Task, feature_map: dict[str, str] | None) -> Any:
    """The ExampleGen of the configured kind (``IngestKind.reader``), hash-splitting the
    examples into train and eval by ``ingest.train_buckets`` : ``ingest.eval_buckets``.

    On the DirectRunner its executor writes each split in input order without TFX's
    Reshuffle, which there keeps the order anyway and only holds the split in memory
    (components/input_order.py)."""
    component = _example_gen(config, task, feature_map)
    if config.beam.runner == "DirectRunner":
        from components.input_order import in_input_order

        in_input_order(component)
    return component


def _example_gen(config: PipelineConfig, task: Task, feature_map: dict[str, str] | None
                 ) -> Any:
    from tfx.proto import example_gen_pb2

    ingest = config.ingest
    kind = KINDS[ingest.kind]
    output = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=ingest.train_buckets),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=ingest.eval_buckets),
    ]))
    if kind.reader == IMAGE_FOLDER:
        from components.image_folder_example_gen.component import ImageFolderExampleGen

        return ImageFolderExampleGen(
            input_base=str(config.data_dir), image_shape=task.image_shape, resize=task.resize,
            image_key=task.image, label_key=task.label, output_config=output)
    if kind.reader == AUDIO_FOLDER:
        from components.audio_folder_example_gen.component import AudioFolderExampleGen
        from components.audio_folder_example_gen.folder import has_given_splits

        return AudioFolderExampleGen(
            input_base=str(config.data_dir), sample_rate=task.sample_rate,
            clip_samples=task.audio_samples, split_given=has_given_splits(config.data_dir),
            audio_key=task.audio, label_key=task.label, output_config=output)
    if kind.reader == TFDS:
        from components.tfds_example_gen.component import TfdsExampleGen

        try:
            splits = tfds_splits(ingest)
        except DlpipeError:  # not prepared where the pipeline is built (e.g. an export)
            splits = TFDS_SPLITS
        hashed = output if splits == TFDS_HASHED else None
        return TfdsExampleGen(
            dataset=ingest.tfds_name, splits=splits, version=ingest.tfds_version or None,
            data_dir=ingest.tfds_data_dir or None, feature_map=feature_map,
            download=ingest.tfds_download, output_config=hashed)
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="single_split", pattern=config.input_pattern)])
    if kind.reader == CSV:
        from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen

        return CsvExampleGen(input_base=str(config.data_dir), input_config=input_config,
                             output_config=output)
    assert kind.reader == IMPORT, kind
    from tfx.components.example_gen.import_example_gen.component import ImportExampleGen

    # With a {SPAN} pattern, ImportExampleGen's driver reads the newest span and records it
    # as the Examples artifact's `span` property.
    return ImportExampleGen(input_base=str(config.data_dir), input_config=input_config,
                            output_config=output)
