"""TfdsExampleGen executor: TFX's ExampleGen executor reading TFDS splits under Beam."""

from __future__ import annotations

import json
import os
from typing import Any

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.components.example_gen import driver, utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.tfds_example_gen.source import (
    TfdsSource,
    load_builder,
    resolve_source,
    to_example,
)

DATASET_KEY = "dataset"
VERSION_KEY = "version"
DATA_DIR_KEY = "data_dir"
FEATURE_MAP_KEY = "feature_map"
DOWNLOAD_KEY = "download"
MANUAL_DIR_KEY = "manual_dir"

# Custom properties of the output Examples artifact.
DATASET_PROPERTY = "tfds_dataset"
FEATURES_PROPERTY = "tfds_features"
SPLIT_COUNTS_PROPERTY = "tfds_split_counts"


def _split_map(exec_properties: dict[str, Any]) -> dict[str, str]:
    """TFDS split spec -> output split name, from the input config (pattern -> name)."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                              input_config)
    return {s.pattern: s.name for s in input_config.splits}


def _to_numpy(example: Any) -> Any:
    import tensorflow_datasets as tfds

    return tfds.as_numpy(example)


class Driver(driver.QueryBasedDriver):
    """TFX's QueryBasedDriver (span 0), plus a fingerprint of the prepared dataset's files.

    The fingerprint is an execution property, so it is part of the cache key: a dataset
    prepared again (new files) is read again instead of reusing the cached Examples.
    """

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        exec_properties = super().resolve_exec_properties(
            exec_properties, pipeline_info, component_info)
        try:
            builder = load_builder(
                exec_properties[DATASET_KEY],
                exec_properties.get(VERSION_KEY) or None,
                exec_properties.get(DATA_DIR_KEY) or None,
                download=False,
            )
        except Exception:  # not prepared or unknown: the executor reports it in full
            return exec_properties
        exec_properties[utils.FINGERPRINT_PROPERTY_NAME] = io_utils.generate_fingerprint(
            builder.info.full_name, os.path.join(str(builder.data_path), "*"))
        return exec_properties


class Executor(BaseExampleGenExecutor):
    """Writes the configured TFDS splits as gzipped tf.Example TFRecords.

    The dataset, its splits and its features are checked before the Beam pipeline is
    built; each split is read with ``tfds.beam.ReadFromTFDS`` (one Beam element per shard
    file, read through ``builder.as_dataset``) and converted per ``source.to_example``.
    """

    _source: TfdsSource | None = None

    def _resolve(self, exec_properties: dict[str, Any]) -> TfdsSource:
        feature_map = exec_properties.get(FEATURE_MAP_KEY)
        return resolve_source(
            exec_properties[DATASET_KEY],
            _split_map(exec_properties),
            version=exec_properties.get(VERSION_KEY) or None,
            data_dir=exec_properties.get(DATA_DIR_KEY) or None,
            feature_map=json.loads(feature_map) if feature_map else None,
            download=bool(exec_properties.get(DOWNLOAD_KEY)),
            manual_dir=exec_properties.get(MANUAL_DIR_KEY) or None,
        )

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        source = self._source
        if source is None:
            raise RuntimeError("TfdsExampleGen: Do() resolves the source before Beam runs.")

        @beam.ptransform_fn
        @beam.typehints.with_input_types(beam.Pipeline)
        @beam.typehints.with_output_types(bytes)
        def _ReadTfds(pipeline: beam.Pipeline, exec_properties: dict[str, Any],
                      split_pattern: str) -> beam.pvalue.PCollection:
            import tensorflow_datasets as tfds

            del exec_properties  # resolved once in Do()
            return (
                pipeline
                | "ReadFromTFDS" >> tfds.beam.ReadFromTFDS(source.builder, split=split_pattern)
                | "ToNumpy" >> beam.Map(_to_numpy)
                | "ToExample" >> beam.Map(to_example, source.plan)
            )

        return _ReadTfds

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._source = self._resolve(exec_properties)
        logging.info("TfdsExampleGen: %s, splits %s, features %s", self._source.full_name,
                     self._source.split_counts, self._source.features_json())
        super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        examples.set_string_custom_property(DATASET_PROPERTY, self._source.full_name)
        examples.set_string_custom_property(FEATURES_PROPERTY, self._source.features_json())
        examples.set_string_custom_property(SPLIT_COUNTS_PROPERTY,
                                            json.dumps(self._source.split_counts))
