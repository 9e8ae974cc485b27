"""Executor of EdgePusher."""

from __future__ import annotations

from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.edge_pusher.push import EdgePushError, push_edge_models
from dlpipe.contract import version_of


class Executor(base_executor.BaseExecutor):
    """Pushes the blessed edge formats; see ``component.EdgePusher``."""

    def Do(  # noqa: N802 - TFX's executor interface.
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Pushes, or records why not (``pushed`` = 0)."""
        self._log_startup(input_dict, output_dict, exec_properties)
        edge_models = artifact_utils.get_single_instance(input_dict["edge_models"])
        out = artifact_utils.get_single_instance(output_dict["pushed_edge_model"])
        out.set_int_custom_property("pushed", 0)
        pushed_models = input_dict.get("pushed_model") or []
        served = pushed_models[0] if pushed_models else None
        if served is not None and not served.get_int_custom_property("pushed"):
            logging.info("The serving Pusher did not push: no edge push.")
            return
        if not edge_models.get_int_custom_property("blessed"):
            logging.info("No edge format is blessed: no edge push.")
            return
        version = exec_properties.get("version")
        if version is None:
            text = served.get_string_custom_property("pushed_version") if served else ""
            if version_of(text) is None:
                raise EdgePushError(
                    "the serving Pusher recorded no integer pushed_version. "
                    f"Received: pushed_version={text!r}; set EdgePusher's version instead"
                )
            version = int(text)
        result = push_edge_models(
            edge_models.uri,
            exec_properties["edge_root"],
            exec_properties["model_name"],
            int(version),
        )
        if result.path is None:
            return
        out.set_int_custom_property("pushed", 1)
        out.set_string_custom_property("pushed_destination", str(result.path))
        out.set_string_custom_property("pushed_version", str(version))
        out.set_string_custom_property("pushed_formats", ",".join(result.formats))
        out.set_string_custom_property("skipped_formats", ",".join(result.skipped))
