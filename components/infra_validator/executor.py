"""InfraValidator executor: reads the artifacts, runs ``validate_model``, writes the blessing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.infra_validator.validate import read_examples, validate_model

BLESSED_FILE = "INFRA_BLESSED"
NOT_BLESSED_FILE = "INFRA_NOT_BLESSED"
REPORT_FILE = "infra_validation_report.json"


def serving_model_dir(model_uri: str) -> Path:
    """The SavedModel of a Model artifact: ``<uri>/Format-Serving`` (or the uri itself)."""
    path = Path(model_uri) / "Format-Serving"
    return path if path.is_dir() else Path(model_uri)


def eval_files(examples: types.Artifact, split: str) -> list[Path]:
    """The TFRecord files of one split of an Examples artifact."""
    (uri,) = artifact_utils.get_split_uris([examples], split)
    files = sorted(p for p in Path(uri).iterdir() if p.is_file())
    if not files:
        raise ValueError(f"No files in split {split!r} of the Examples artifact: {uri}")
    return files


class Executor(base_executor.BaseExecutor):
    """Serves the model in the embedded server and blesses it if every check passes."""

    def Do(  # noqa: N802 (TFX's method name)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        split = exec_properties.get("split") or "eval"
        names = exec_properties.get("signature_names") or ""
        serialized = read_examples(
            eval_files(examples, split), int(exec_properties.get("num_examples") or 64)
        )
        report = validate_model(
            serving_model_dir(model.uri),
            serialized,
            model_name=exec_properties.get("model_name") or "candidate",
            signature_names=[n.strip() for n in names.split(",") if n.strip()],
            batch_size=int(exec_properties.get("batch_size") or 8),
            rtol=float(exec_properties.get("rtol") or 1e-5),
            atol=float(exec_properties.get("atol") or 1e-6),
        )
        out = Path(blessing.uri)
        out.mkdir(parents=True, exist_ok=True)
        (out / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=1))
        (out / (BLESSED_FILE if report.blessed else NOT_BLESSED_FILE)).write_text(report.reason)
        blessing.set_int_custom_property("blessed", int(report.blessed))
        # TFX's Pusher reads this flag; 0: push the Model artifact, not a warmed-up copy.
        blessing.set_int_custom_property("has_model", 0)
        blessing.set_string_custom_property("reason", report.reason[:1000])
        logging.info(
            "InfraValidator: %s (%s)", "blessed" if report.blessed else "NOT blessed", report.reason
        )
