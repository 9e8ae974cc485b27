"""The EdgeExport TFX component: a blessed Model to TFLite and ONNX files plus a report."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.edge_export import executor
from components.edge_export.artifacts import EdgeModels, EdgeReport

MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
EXAMPLES_KEY = "examples"
EDGE_MODELS_KEY = "edge_models"
EDGE_REPORT_KEY = "edge_report"


class EdgeExportSpec(types.ComponentSpec):
    """Inputs, outputs and parameters of EdgeExport (see ``EdgeExport`` for their meaning)."""

    PARAMETERS = {
        "formats": ExecutionParameter(type=str, optional=True),
        "signature": ExecutionParameter(type=str, optional=True),
        "int8_io": ExecutionParameter(type=str, optional=True),
        "allow_flex": ExecutionParameter(type=int, optional=True),
        "max_accuracy_drop": ExecutionParameter(type=float, optional=True),
        "gate_overrides": ExecutionParameter(type=str, optional=True),
        "feature_key": ExecutionParameter(type=str, optional=True),
        "label_key": ExecutionParameter(type=str, optional=True),
        "train_split": ExecutionParameter(type=str, optional=True),
        "eval_split": ExecutionParameter(type=str, optional=True),
        "num_parity": ExecutionParameter(type=int, optional=True),
        "num_representative": ExecutionParameter(type=int, optional=True),
        "latency_runs": ExecutionParameter(type=int, optional=True),
        "edge_spec": ExecutionParameter(type=str, optional=True),
        "author": ExecutionParameter(type=str, optional=True),
        "license": ExecutionParameter(type=str, optional=True),
        "rgb_input": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        EDGE_MODELS_KEY: ChannelParameter(type=EdgeModels),
        EDGE_REPORT_KEY: ChannelParameter(type=EdgeReport),
    }


class EdgeExport(base_component.BaseComponent):
    """Converts a blessed Model to edge formats, checks each against the SavedModel.

    Outputs ``edge_models`` (EdgeModels: the files, each .tflite with TFLite metadata
    inside, ``labels.txt``, ``metadata.json``) and
    ``edge_report`` (EdgeReport: ``edge_report.json``), registered in ML Metadata with the
    model, blessing and examples as inputs of the execution (lineage).
    """

    SPEC_CLASS = EdgeExportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        model_blessing: types.BaseChannel | None = None,
        formats: str | None = None,
        signature: str | None = None,
        int8_io: str | None = None,
        allow_flex: bool = False,
        max_accuracy_drop: float | None = None,
        gate_overrides: str | None = None,
        feature_key: str | None = None,
        label_key: str | None = None,
        train_split: str | None = None,
        eval_split: str | None = None,
        num_parity: int | None = None,
        num_representative: int | None = None,
        latency_runs: int | None = None,
        edge_spec: str | None = None,
        author: str | None = None,
        license: str | None = None,  # noqa: A002 - the TFLite metadata field's name
        rgb_input: bool = False,
    ) -> None:
        """Builds the component.

        Args:
          model: Trainer's ``model`` channel (SavedModel under ``Format-Serving``).
          examples: Examples whose features match the edge signature's raw input, with a
            train split (int8 calibration) and an eval split (parity, accuracy): the
            ExampleGen output (raw pixels) for the digits model.
          model_blessing: Evaluator's ``blessing``; an unblessed model is not converted.
          formats: Comma-separated formats (default: all of float32, float16,
            dynamic_range, int8, onnx).
          signature: SavedModel signature to convert (default ``edge``).
          int8_io: Tensor type of the int8 model's input/output: float32, int8 or uint8.
          allow_flex: Allow Flex (TF) ops in TFLite where builtins cannot express the model.
          max_accuracy_drop: Accuracy drop allowed for quantized formats (default 0.01).
          gate_overrides: JSON of per-format gates, e.g. ``{"int8": {"max_accuracy_drop":
            0.02}}``.
          feature_key: Example feature holding the input (default: the edge spec's input).
          label_key: Int64 label feature (default ``label``).
          train_split: Split for calibration (default ``train``).
          eval_split: Split for parity and accuracy (default ``eval``).
          num_parity: Eval examples for the max abs difference (default 200).
          num_representative: Train examples for int8 calibration (default 200).
          latency_runs: Timed batch-1 calls per format (default 200).
          edge_spec: JSON of a ``models.edge.EdgeSpec`` (labels, input range, ...) used
            when the SavedModel has no ``assets.extra/edge_spec.json``.
          author: Author in each .tflite's TFLite metadata (default: "not stated ...").
          license: License in the TFLite metadata (default: "not stated ...").
          rgb_input: A grey image model's TFLite/ONNX files take ``[1, H, W, 3]`` RGB, as
            the TFLite Task Library's ImageClassifier needs (the graph makes it grey).
        """
        spec = EdgeExportSpec(
            model=model,
            model_blessing=model_blessing,
            examples=examples,
            edge_models=types.Channel(type=EdgeModels),
            edge_report=types.Channel(type=EdgeReport),
            formats=formats,
            signature=signature,
            int8_io=int8_io,
            allow_flex=int(allow_flex),
            max_accuracy_drop=max_accuracy_drop,
            gate_overrides=gate_overrides,
            feature_key=feature_key,
            label_key=label_key,
            train_split=train_split,
            eval_split=eval_split,
            num_parity=num_parity,
            num_representative=num_representative,
            latency_runs=latency_runs,
            edge_spec=edge_spec,
            author=author,
            license=license,
            rgb_input=int(rgb_input),
        )
        super().__init__(spec=spec)
