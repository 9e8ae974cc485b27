"""Pusher executor: TFX's blessing checks, dlpipe's versioned atomic push."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.pusher.push import push_saved_model
from components.pusher.warmup import write_warmup_requests
from serving.config import write_deployment

REASON_KEY = "push_reason"


def _why_not_blessed(input_dict: dict[str, list[types.Artifact]]) -> str:
    from tfx.components.util import model_utils

    blessing = input_dict.get(standard_component_specs.MODEL_BLESSING_KEY)
    if blessing and not model_utils.is_model_blessed(blessing[0]):
        return "the model was not blessed"
    return "the infra validator did not bless the model"


class Executor(tfx_pusher_executor.Executor):
    """Pushes a blessed model to ``<base_directory>/<next integer version>/``."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property(REASON_KEY, _why_not_blessed(input_dict))
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError("dlpipe's Pusher only pushes to a filesystem destination.")
        model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        base_directory = Path(destination.filesystem.base_directory)
        result = push_saved_model(
            Path(self.GetModelPath(input_dict)),
            base_directory,
            model_id=model.uri,
            provenance={
                "model_uri": model.uri,
                "pipeline_run": self._context.pipeline_run_id if self._context else "",
            },
            # TF Serving's warm-up records, replayed before the version becomes AVAILABLE.
            prepare=lambda version_dir: write_warmup_requests(version_dir,
                                                              model_name=base_directory.name),
        )
        logging.info("Pusher: %s (%s)", result.reason, result.path)
        # Keep the TF Serving deployment files (models.config naming this model, batching,
        # monitoring, docker-compose, run scripts) in the serving root; idempotent.
        write_deployment(base_directory.parent, [base_directory.name])
        if result.pushed:
            self._MarkPushed(
                model_push, pushed_destination=str(result.path), pushed_version=str(result.version)
            )
        else:
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property("pushed_destination", str(result.path))
            model_push.set_string_custom_property("pushed_version", str(result.version))
        model_push.set_string_custom_property(REASON_KEY, result.reason)
