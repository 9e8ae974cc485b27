"""ImageFolderExampleGen executor and driver: TFX's ExampleGen machinery over an image folder."""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.components.example_gen import driver
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import artifact_utils, standard_component_specs

from components.folder_order import mixed
from components.image_folder_example_gen.folder import (
    ImageFolder,
    ImageShape,
    load_image,
    scan_image_folder,
    write_labels,
)
from dlpipe.examples import image_example

IMAGE_SHAPE_KEY = "image_shape"
RESIZE_KEY = "resize"
IMAGE_KEY_KEY = "image_key"
LABEL_KEY_KEY = "label_key"

# Custom properties of the output Examples artifact.
LABELS_PROPERTY = "labels"
IMAGE_SHAPE_PROPERTY = "image_shape"
CLASS_COUNTS_PROPERTY = "class_counts"


def _scan(exec_properties: dict[str, Any]) -> tuple[ImageFolder, ImageShape]:
    shape = ImageShape.of(json.loads(exec_properties[IMAGE_SHAPE_KEY]))
    folder = scan_image_folder(exec_properties[standard_component_specs.INPUT_BASE_KEY], shape,
                               resize=bool(exec_properties.get(RESIZE_KEY, 1)))
    return folder, shape


def _to_example(item: tuple[str, int], shape: ImageShape, resize: bool, image_key: str,
                label_key: str) -> bytes:
    path, label = item
    return image_example(load_image(path, shape, resize).ravel(), label, image_key, label_key)


class Driver(driver.FileBasedDriver):
    """TFX's FileBasedDriver (span, fingerprint of ``<class>/<image>`` files), after the checks.

    Checking first turns a missing or malformed folder into one line naming it, instead of
    the driver's "no files match" error.
    """

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        _scan(exec_properties)
        return super().resolve_exec_properties(exec_properties, pipeline_info, component_info)


class Executor(BaseExampleGenExecutor):
    """Decodes, converts and resizes every image into a tf.Example (float pixels, int64 label).

    The folder is scanned and checked before the Beam pipeline is built; splits come from
    the output config's hash buckets, as in TFX's file-based ExampleGens.
    """

    _folder: ImageFolder | None = None
    _shape: ImageShape | None = None

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        folder, shape = self._folder, self._shape
        if folder is None or shape is None:
            raise RuntimeError("ImageFolderExampleGen: Do() scans the folder before Beam runs.")

        @beam.ptransform_fn
        @beam.typehints.with_input_types(beam.Pipeline)
        @beam.typehints.with_output_types(bytes)
        def _ReadImages(pipeline: beam.Pipeline, exec_properties: dict[str, Any],
                        split_pattern: str) -> beam.pvalue.PCollection:
            del split_pattern  # the scan already listed <class>/<image> files
            return (
                pipeline
                | "ListImages" >> beam.Create(mixed(folder.files))
                | "ToExample" >> beam.Map(
                    _to_example, shape, bool(exec_properties.get(RESIZE_KEY, 1)),
                    exec_properties[IMAGE_KEY_KEY], exec_properties[LABEL_KEY_KEY])
            )

        return _ReadImages

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._folder, self._shape = _scan(exec_properties)
        counts = self._folder.counts()
        logging.info("ImageFolderExampleGen: %d images in %d classes %s",
                     len(self._folder.files), len(counts), counts)
        super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        write_labels(examples.uri, self._folder.labels)
        examples.set_string_custom_property(LABELS_PROPERTY, json.dumps(self._folder.labels))
        examples.set_string_custom_property(IMAGE_SHAPE_PROPERTY,
                                            json.dumps(self._shape.as_list()))
        examples.set_string_custom_property(CLASS_COUNTS_PROPERTY, json.dumps(counts))
