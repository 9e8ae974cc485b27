"""AudioFolderExampleGen executor and driver: TFX's ExampleGen machinery over a WAV folder."""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.components.example_gen import driver
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import artifact_utils, standard_component_specs

from components.audio_folder_example_gen.folder import AudioFolder, load_clip, scan_audio_folder
from components.folder_order import mixed
from components.image_folder_example_gen.folder import write_labels
from dlpipe.examples import labelled_example

SAMPLE_RATE_KEY = "sample_rate"
CLIP_SAMPLES_KEY = "clip_samples"
AUDIO_KEY_KEY = "audio_key"
LABEL_KEY_KEY = "label_key"

# Custom properties of the output Examples artifact.
LABELS_PROPERTY = "labels"
SAMPLE_RATE_PROPERTY = "sample_rate"
CLASS_COUNTS_PROPERTY = "class_counts"


def _to_example(item: tuple[str, int, str], rate: int, samples: int, audio_key: str,
                label_key: str) -> bytes:
    path, label, _ = item
    return labelled_example(load_clip(path, rate, samples), label, audio_key, label_key)


def _split_of(pattern: str) -> str:
    """The split a given-splits input pattern (``train/*/*``) reads; empty for ``*/*``."""
    head = pattern.split("/", 1)[0]
    return "" if head == "*" else head


class Driver(driver.FileBasedDriver):
    """TFX's FileBasedDriver (span, fingerprint of the WAV files), after the checks, so a
    missing or malformed folder is one line naming it."""

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        scan_audio_folder(exec_properties[standard_component_specs.INPUT_BASE_KEY])
        return super().resolve_exec_properties(exec_properties, pipeline_info, component_info)


class Executor(BaseExampleGenExecutor):
    """Decodes, mixes down, resamples and pads or cuts every clip into a tf.Example (float
    samples in [-1, 1], int64 label). Splits come from the folder's train/ and eval/ when it
    has them, else from the output config's hash buckets."""

    _folder: AudioFolder | None = None

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        folder = self._folder
        if folder is None:
            raise RuntimeError("AudioFolderExampleGen: Do() scans the folder before Beam runs.")

        @beam.ptransform_fn
        @beam.typehints.with_input_types(beam.Pipeline)
        @beam.typehints.with_output_types(bytes)
        def _ReadClips(pipeline: beam.Pipeline, exec_properties: dict[str, Any],
                       split_pattern: str) -> beam.pvalue.PCollection:
            split = _split_of(split_pattern)
            files = [f for f in folder.files if f[2] == split]
            return (
                pipeline
                | "ListClips" >> beam.Create(mixed(files))
                | "ToExample" >> beam.Map(
                    _to_example, int(exec_properties[SAMPLE_RATE_KEY]),
                    int(exec_properties[CLIP_SAMPLES_KEY]), exec_properties[AUDIO_KEY_KEY],
                    exec_properties[LABEL_KEY_KEY])
            )

        return _ReadClips

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._folder = scan_audio_folder(exec_properties[standard_component_specs.INPUT_BASE_KEY])
        counts = self._folder.counts()
        logging.info("AudioFolderExampleGen: %d clips in %d classes %s (rates %s)",
                     len(self._folder.files), len(counts), counts, sorted(self._folder.rates))
        super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        write_labels(examples.uri, self._folder.labels)
        examples.set_string_custom_property(LABELS_PROPERTY, json.dumps(self._folder.labels))
        examples.set_int_custom_property(SAMPLE_RATE_PROPERTY,
                                         int(exec_properties[SAMPLE_RATE_KEY]))
        examples.set_string_custom_property(CLASS_COUNTS_PROPERTY, json.dumps(counts))
