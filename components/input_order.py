"""ExampleGen executors that write each split in input order, without TFX's Reshuffle; the
pipeline uses them on Beam's DirectRunner.

TFX's ExampleGen reshuffles each split before writing it (``write_split.WriteSplit``): random
keys, then a GroupByKey. On the DirectRunner that GroupByKey is an in-memory table that emits
its keys in first-seen order (``fn_api_runner.execution.GroupingBuffer``), and every random key
is new, so the records come out in the order they went in: the step mixes nothing there, but
holds the whole split in memory (about 4 KB per MNIST-shaped record) and costs time. These
executors write the same records in the same order in one streaming pass at constant memory.
On Dataflow, Flink and Spark the reshuffle does mix the records and spills to disk, so those
runs keep TFX's executors. (The folder ExampleGens mix their file lists before reading on every
runner: components/folder_order.py.)

Each executor is the component's own executor with ``InputOrderWrite``'s ``Do`` under it, so
the component's own work before and after writing (labels, class counts, properties) is
unchanged; ``in_input_order`` puts one on a component.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from tfx import types
from tfx.components.example_gen import utils, write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.audio_folder_example_gen import executor as audio_executor
from components.image_folder_example_gen import executor as image_executor
from components.tfds_example_gen import executor as tfds_executor


@beam.ptransform_fn
def _write_in_order(records: beam.PCollection, split_uri: str) -> beam.pvalue.PDone:
    """TFX's ``WriteSplit`` for TFRecords without its ``Reshuffle``: the same files."""
    return (records
            | "Serialize" >> beam.ParDo(write_split.MaybeSerialize())
            | "Write" >> beam.io.WriteToTFRecord(
                f"{split_uri}/{write_split.DEFAULT_TF_RECORD_FILE_NAME}",
                file_name_suffix=".gz"))


class InputOrderWrite(BaseExampleGenExecutor):
    """``BaseExampleGenExecutor.Do`` with each split written in input order: the same split
    names, files, payload and file format properties."""

    def Do(  # noqa: N802 (TFX's method name)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        keys = standard_component_specs
        payload = exec_properties.get(keys.OUTPUT_DATA_FORMAT_KEY)
        if payload == example_gen_pb2.PayloadFormat.FORMAT_PARQUET:
            raise ValueError("The input-order ExampleGen writes TFRecords; it was given the "
                             "Parquet payload format. Expected FORMAT_TF_EXAMPLE, "
                             "FORMAT_TF_SEQUENCE_EXAMPLE or FORMAT_PROTO.")
        input_config = proto_utils.json_to_proto(
            exec_properties[keys.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[keys.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
        examples = output_dict[keys.EXAMPLES_KEY]
        artifact_utils.get_single_instance(examples).split_names = (
            artifact_utils.encode_split_names(
                utils.generate_output_split_names(input_config, output_config)))
        with self._make_beam_pipeline() as pipeline:
            splits = self.GenerateExamplesByBeam(pipeline, exec_properties)
            for name, records in splits.items():
                _ = records | f"WriteSplit[{name}]" >> _write_in_order(
                    artifact_utils.get_split_uri(examples, name))
        file_format = exec_properties.get(keys.OUTPUT_FILE_FORMAT_KEY)
        for artifact in examples:
            if payload:
                examples_utils.set_payload_format(artifact, payload)
            if file_format:
                examples_utils.set_file_format(
                    artifact, write_split.to_file_format_str(file_format))


class CsvExecutor(csv_executor.Executor, InputOrderWrite):
    """TFX's CsvExampleGen executor, written in input order."""


class ImportExecutor(import_executor.Executor, InputOrderWrite):
    """TFX's ImportExampleGen executor, written in input order."""


class ImageFolderExecutor(image_executor.Executor, InputOrderWrite):
    """ImageFolderExampleGen's executor, written in input order."""


class AudioFolderExecutor(audio_executor.Executor, InputOrderWrite):
    """AudioFolderExampleGen's executor, written in input order."""


class TfdsExecutor(tfds_executor.Executor, InputOrderWrite):
    """TfdsExampleGen's executor, written in input order."""


_IN_INPUT_ORDER = {cls.__mro__[1]: cls for cls in (
    CsvExecutor, ImportExecutor, ImageFolderExecutor, AudioFolderExecutor, TfdsExecutor)}


def in_input_order(component: Any) -> Any:
    """``component`` (an ExampleGen of dlpipe's ingest kinds) with its executor replaced by the
    one that writes in input order; its Beam arguments are kept."""
    spec = component.executor_spec
    try:
        order = _IN_INPUT_ORDER[spec.executor_class]
    except KeyError:
        raise TypeError(
            f"{type(component).__name__}'s executor {spec.executor_class.__name__} has no "
            f"input-order variant; expected the executor of CsvExampleGen, ImportExampleGen, "
            f"ImageFolderExampleGen, AudioFolderExampleGen or TfdsExampleGen.") from None
    replaced = executor_spec.BeamExecutorSpec(order)
    replaced.beam_pipeline_args = list(spec.beam_pipeline_args)
    component.executor_spec = replaced
    return component
