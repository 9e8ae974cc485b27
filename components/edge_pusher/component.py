"""The EdgePusher TFX component: blessed edge formats to ``<edge_root>/<model_name>/<version>/``."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.edge_export.artifacts import EdgeModels
from components.edge_pusher import executor

EDGE_MODELS_KEY = "edge_models"
PUSHED_MODEL_KEY = "pushed_model"
PUSHED_EDGE_MODEL_KEY = "pushed_edge_model"


class EdgePusherSpec(types.ComponentSpec):
    """Inputs, outputs and parameters of EdgePusher."""

    PARAMETERS = {
        "edge_root": ExecutionParameter(type=str),
        "model_name": ExecutionParameter(type=str),
        "version": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        EDGE_MODELS_KEY: ChannelParameter(type=EdgeModels),
        PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel, optional=True),
    }
    OUTPUTS = {
        PUSHED_EDGE_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel),
    }


class EdgePusher(base_component.BaseComponent):
    """Pushes the blessed edge formats beside the served model, with the same version.

    The version is ``version`` if given, else the ``pushed_version`` custom property of the
    serving Pusher's ``pushed_model`` (TFX's Pusher sets it). If the serving Pusher did not
    push (``pushed`` = 0) or no format is blessed, nothing is pushed. The output
    ``pushed_edge_model`` records ``pushed``, ``pushed_destination``, ``pushed_version`` and
    ``pushed_formats`` as custom properties.
    """

    SPEC_CLASS = EdgePusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        edge_models: types.BaseChannel,
        edge_root: str,
        model_name: str,
        pushed_model: types.BaseChannel | None = None,
        version: int | None = None,
    ) -> None:
        """Builds the component.

        Args:
          edge_models: EdgeExport's ``edge_models`` channel.
          edge_root: Root directory of the edge models.
          model_name: Model name (the served model's directory name).
          pushed_model: The serving Pusher's ``pushed_model`` channel (gives the version).
          version: Explicit version (overrides ``pushed_model``'s).
        """
        if pushed_model is None and version is None:
            raise ValueError("EdgePusher needs pushed_model or version. Received neither.")
        spec = EdgePusherSpec(
            edge_models=edge_models,
            pushed_model=pushed_model,
            pushed_edge_model=types.Channel(type=standard_artifacts.PushedModel),
            edge_root=edge_root,
            model_name=model_name,
            version=version,
        )
        super().__init__(spec=spec)
