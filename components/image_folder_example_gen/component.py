"""The ImageFolderExampleGen TFX component: labelled image folders as ``Examples``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tfx import types
from tfx.components.example_gen import utils
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.image_folder_example_gen import executor
from components.image_folder_example_gen.folder import ImageShape
from dlpipe.errors import DlpipeError

IMAGES_PATTERN = "*/*"
"""Files of the input config (and of the driver's fingerprint): ``<class>/<image>``."""


class ImageFolderExampleGenSpec(types.ComponentSpec):
    """FileBasedExampleGen's parameters plus the image options (see ImageFolderExampleGen)."""

    PARAMETERS = {
        standard_component_specs.INPUT_BASE_KEY: ExecutionParameter(type=str),
        standard_component_specs.INPUT_CONFIG_KEY: ExecutionParameter(type=example_gen_pb2.Input),
        standard_component_specs.OUTPUT_CONFIG_KEY: ExecutionParameter(
            type=example_gen_pb2.Output),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: ExecutionParameter(type=int),
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: ExecutionParameter(type=int),
        executor.IMAGE_SHAPE_KEY: ExecutionParameter(type=str),
        executor.RESIZE_KEY: ExecutionParameter(type=int),
        executor.IMAGE_KEY_KEY: ExecutionParameter(type=str),
        executor.LABEL_KEY_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


class ImageFolderExampleGen(base_beam_component.BaseBeamComponent):
    """Reads ``<input_base>/<class>/<image>`` PNG/JPEG files into hash-split tf.Examples.

    Each example holds the image as a flat float list of raw pixel values (0-255, HWC,
    after conversion to grey or RGB and resizing) under ``image_key``, and the index of its
    class in the sorted class folder names under ``label_key`` (int64).

    Output ``examples`` (standard ``Examples``: ``Split-<name>/`` gzipped TFRecords) with
    ``labels.txt`` (line i names label i) beside the splits and custom properties
    ``labels`` (JSON list), ``image_shape`` (JSON ``[h, w, c]``) and ``class_counts``. The
    driver fingerprints the image files, so a changed folder is read again.
    """

    SPEC_CLASS = ImageFolderExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = executor.Driver

    def __init__(
        self,
        input_base: str,
        image_shape: Sequence[int],
        resize: bool = True,
        image_key: str = "image",
        label_key: str = "label",
        output_config: example_gen_pb2.Output | None = None,
    ) -> None:
        """Builds the component.

        Args:
          input_base: The image folder: one subfolder per class, images directly inside.
          image_shape: ``(height, width, channels)``; channels 1 (grey) or 3 (RGB).
          resize: Resize images of another size (bilinear); if False, every image must
            already be ``height`` x ``width``.
          image_key: Name of the image feature.
          label_key: Name of the label feature.
          output_config: TFX ``Output`` with hash-bucket splits; default train:eval 2:1
            (TFX's default).

        Raises:
          DlpipeError: a bad image shape or feature names.
        """
        shape = ImageShape.of(image_shape)
        if not image_key or not label_key or image_key == label_key:
            raise DlpipeError(
                f"image_key and label_key must be two different non-empty names. Received: "
                f"image_key={image_key!r}, label_key={label_key!r}."
            )
        input_config = utils.make_default_input_config(IMAGES_PATTERN)
        spec = ImageFolderExampleGenSpec(
            input_base=str(input_base),
            input_config=input_config,
            output_config=output_config or utils.make_default_output_config(input_config),
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            image_shape=json.dumps(shape.as_list()),
            resize=int(bool(resize)),
            image_key=image_key,
            label_key=label_key,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
