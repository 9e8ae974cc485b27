"""The AudioFolderExampleGen TFX component: labelled WAV folders as ``Examples``."""

from __future__ import annotations

from tfx import types
from tfx.components.example_gen import utils
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.audio_folder_example_gen import executor
from components.audio_folder_example_gen.folder import SPLITS
from dlpipe.errors import DlpipeError

CLIPS_PATTERN = "*/*"
"""Files of the input config (and of the driver's fingerprint): ``<class>/<clip>``."""


class AudioFolderExampleGenSpec(types.ComponentSpec):
    """FileBasedExampleGen's parameters plus the audio options (see AudioFolderExampleGen)."""

    PARAMETERS = {
        standard_component_specs.INPUT_BASE_KEY: ExecutionParameter(type=str),
        standard_component_specs.INPUT_CONFIG_KEY: ExecutionParameter(type=example_gen_pb2.Input),
        standard_component_specs.OUTPUT_CONFIG_KEY: ExecutionParameter(
            type=example_gen_pb2.Output),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: ExecutionParameter(type=int),
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: ExecutionParameter(type=int),
        executor.SAMPLE_RATE_KEY: ExecutionParameter(type=int),
        executor.CLIP_SAMPLES_KEY: ExecutionParameter(type=int),
        executor.AUDIO_KEY_KEY: ExecutionParameter(type=str),
        executor.LABEL_KEY_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


class AudioFolderExampleGen(base_beam_component.BaseBeamComponent):
    """Reads ``<input_base>/<class>/<clip>.wav`` (or ``train/`` and ``eval/`` of those) into
    tf.Examples.

    Each example holds the clip as ``clip_samples`` float samples in [-1, 1] at
    ``sample_rate`` (mono, resampled, padded with silence or cut) under ``audio_key``, and
    the index of its class in the sorted class folder names under ``label_key`` (int64).

    Output ``examples`` (standard ``Examples``: ``Split-<name>/`` gzipped TFRecords) with
    ``labels.txt`` beside the splits and custom properties ``labels`` (JSON list),
    ``sample_rate`` and ``class_counts``. The driver fingerprints the WAV files, so a
    changed folder is read again.
    """

    SPEC_CLASS = AudioFolderExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = executor.Driver

    def __init__(
        self,
        input_base: str,
        sample_rate: int,
        clip_samples: int,
        split_given: bool = False,
        audio_key: str = "audio",
        label_key: str = "label",
        output_config: example_gen_pb2.Output | None = None,
    ) -> None:
        """Builds the component.

        Args:
          input_base: The audio folder.
          sample_rate: Samples per second every clip is resampled to.
          clip_samples: Samples per clip (padded with zeros at the end, or cut).
          split_given: The folder holds ``train/`` and ``eval/`` (the splits); else
            ExampleGen splits the clips by ``output_config``'s hash buckets.
          audio_key, label_key: Names of the features.
          output_config: TFX ``Output`` with hash-bucket splits (ignored when the splits
            are given); default train:eval 2:1 (TFX's default).

        Raises:
          DlpipeError: a bad rate, clip length or feature names.
        """
        if sample_rate <= 0 or clip_samples <= 0:
            raise DlpipeError(f"sample_rate and clip_samples must be positive. Received: "
                              f"sample_rate={sample_rate!r}, clip_samples={clip_samples!r}.")
        if not audio_key or not label_key or audio_key == label_key:
            raise DlpipeError(
                f"audio_key and label_key must be two different non-empty names. Received: "
                f"audio_key={audio_key!r}, label_key={label_key!r}."
            )
        if split_given:
            input_config = example_gen_pb2.Input(splits=[
                example_gen_pb2.Input.Split(name=s, pattern=f"{s}/{CLIPS_PATTERN}")
                for s in SPLITS])
            output_config = example_gen_pb2.Output()
        else:
            input_config = utils.make_default_input_config(CLIPS_PATTERN)
            output_config = output_config or utils.make_default_output_config(input_config)
        spec = AudioFolderExampleGenSpec(
            input_base=str(input_base),
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            sample_rate=int(sample_rate),
            clip_samples=int(clip_samples),
            audio_key=audio_key,
            label_key=label_key,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
