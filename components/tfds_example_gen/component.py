"""The TfdsExampleGen TFX component: a TFDS dataset as a standard ``Examples`` artifact."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tfx import types
from tfx.components.example_gen import utils
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.tfds_example_gen import executor
from dlpipe.errors import DlpipeError

DEFAULT_SPLITS = {"train": "train", "test": "eval"}


class TfdsExampleGenSpec(types.ComponentSpec):
    """QueryBasedExampleGen's parameters plus the TFDS source (see ``TfdsExampleGen``)."""

    PARAMETERS = {
        standard_component_specs.INPUT_CONFIG_KEY: ExecutionParameter(type=example_gen_pb2.Input),
        standard_component_specs.OUTPUT_CONFIG_KEY: ExecutionParameter(
            type=example_gen_pb2.Output),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: ExecutionParameter(type=int),
        standard_component_specs.OUTPUT_FILE_FORMAT_KEY: ExecutionParameter(type=int),
        executor.DATASET_KEY: ExecutionParameter(type=str),
        executor.VERSION_KEY: ExecutionParameter(type=str, optional=True),
        executor.DATA_DIR_KEY: ExecutionParameter(type=str, optional=True),
        executor.FEATURE_MAP_KEY: ExecutionParameter(type=str, optional=True),
        executor.DOWNLOAD_KEY: ExecutionParameter(type=int, optional=True),
        executor.MANUAL_DIR_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


class TfdsExampleGen(base_beam_component.BaseBeamComponent):
    """Reads a TFDS dataset and writes its splits as gzipped tf.Example TFRecords.

    Output ``examples`` (standard ``Examples``: ``Split-<name>/`` directories of
    ``*.gz`` TFRecords, ``split_names``, ``span``), so StatisticsGen, Transform and the
    Trainer read it as any ExampleGen's. Custom properties: ``tfds_dataset`` (full name),
    ``tfds_features`` (JSON ``{feature: {source, kind, shape, tfds_type[, names]}}``: image
    shapes and ClassLabel names are recorded here) and ``tfds_split_counts``.

    Like TFX's QueryBasedExampleGen, each input split's ``pattern`` is a query, here a
    TFDS split spec; the driver records span 0 and ``input_fingerprint`` (the prepared
    dataset's files) on the artifact.
    """

    SPEC_CLASS = TfdsExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = executor.Driver

    def __init__(
        self,
        dataset: str,
        splits: Mapping[str, str] | None = None,
        version: str | None = None,
        data_dir: str | None = None,
        feature_map: Mapping[str, str] | None = None,
        download: bool = False,
        manual_dir: str | None = None,
        output_config: example_gen_pb2.Output | None = None,
    ) -> None:
        """Builds the component.

        Args:
          dataset: TFDS dataset name, optionally with a config (``mnist``,
            ``imdb_reviews/plain_text``).
          splits: TFDS split spec -> output split name, e.g. ``{"train[:80%]": "train",
            "train[80%:]": "eval"}``. Default ``{"train": "train", "test": "eval"}``.
          version: Dataset version (``3.0.1``); default the builder's current version.
          data_dir: Directory of prepared TFDS datasets; default TFDS's own.
          feature_map: TFDS feature path -> tf.Example feature name; only these are
            written (e.g. ``{"image": "image", "label": "label"}``). Default: every feature
            under its own name (nested paths with ``/`` replaced by ``_``).
          download: Download and prepare the dataset when ``data_dir`` does not hold it.
            Off by default: offline, a download attempt takes minutes to fail.
          manual_dir: Manually downloaded files, for datasets that require them.
          output_config: TFX ``Output`` hash-splitting the single configured split (e.g.
            ``{"all": "all"}`` split 4:1 into train/eval). Default: the splits as mapped.

        Raises:
          DlpipeError: an empty dataset name or split map, two splits with one output
            name, or an output_config with more than one configured split.
        """
        if not dataset or not isinstance(dataset, str):
            raise DlpipeError(f"TfdsExampleGen needs a dataset name. Received: "
                              f"dataset={dataset!r}.")
        splits = dict(DEFAULT_SPLITS if splits is None else splits)
        if not splits or not all(splits.values()) or len(set(splits.values())) != len(splits):
            raise DlpipeError(
                f"TfdsExampleGen splits must map TFDS split specs to distinct, non-empty output "
                f"split names. Received: splits={splits!r}."
            )
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=out, pattern=spec) for spec, out in splits.items()
        ])
        output_config = output_config or example_gen_pb2.Output()
        try:
            utils.generate_output_split_names(input_config, output_config)
        except RuntimeError as e:
            raise DlpipeError(
                f"TfdsExampleGen: {e} Received: splits={splits!r}, output_config="
                f"{output_config}."
            ) from None
        spec = TfdsExampleGenSpec(
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            dataset=dataset,
            version=version,
            data_dir=data_dir,
            feature_map=json.dumps(dict(feature_map)) if feature_map is not None else None,
            download=int(bool(download)),
            manual_dir=manual_dir,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
