"""Executor of EdgeExport: reads the TFX artifacts, runs ``export_edge``, records results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.edge_export import data as data_lib
from components.edge_export import formats as fmts
from components.edge_export.export import export_edge
from components.edge_export.report import EdgeReport, format_table
from models import edge as edge_lib
from models.tasks.export import read_task_info
from models.tasks.spec import TABULAR_REGRESSION


class Executor(base_executor.BaseExecutor):
    """Converts the blessed model to edge formats; see ``component.EdgeExport``."""

    def Do(  # noqa: N802 - TFX's executor interface.
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Runs the export.

        Args:
          input_dict: ``model``, optional ``model_blessing``, ``examples``.
          output_dict: ``edge_models``, ``edge_report``.
          exec_properties: The component's parameters (None: default).
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        props = {k: v for k, v in exec_properties.items() if v is not None}
        model = artifact_utils.get_single_instance(input_dict["model"])
        edge_models = artifact_utils.get_single_instance(output_dict["edge_models"])
        report_artifact = artifact_utils.get_single_instance(output_dict["edge_report"])
        model_dir = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model)
        )
        blessings = input_dict.get("model_blessing") or []
        if blessings and not model_utils.is_model_blessed(blessings[0]):
            report = EdgeReport(model_dir=model_dir, model_blessed=False)
            report.notes.append("the model is not blessed by the Evaluator: nothing converted")
            self._record(report, edge_models, report_artifact)
            return

        options = fmts.ExportOptions(
            formats=fmts.parse_formats(props.get("formats")),
            signature=props.get("signature", edge_lib.EDGE_SIGNATURE),
            int8_io=props.get("int8_io", "float32"),
            allow_flex=bool(props.get("allow_flex", 0)),
            max_accuracy_drop=float(props.get("max_accuracy_drop", 0.01)),
            gate_overrides=fmts.parse_gate_overrides(props.get("gate_overrides")),
            num_parity=int(props.get("num_parity", 200)),
            num_representative=int(props.get("num_representative", 200)),
            latency_runs=int(props.get("latency_runs", 200)),
            edge_spec=_parse_spec(props.get("edge_spec")),
            rgb_input=bool(props.get("rgb_input", 0)),
            **{k: props[k] for k in ("author", "license") if props.get(k)},
        )
        feature = props.get("feature_key") or (
            options.edge_spec.input_name
            if options.edge_spec and not edge_lib.read_edge_spec(model_dir)
            else _spec_input_name(model_dir, options.signature)
        )
        label = props.get("label_key", "label")
        examples = input_dict["examples"]
        train_uri = artifact_utils.get_split_uri(examples, props.get("train_split", "train"))
        eval_uri = artifact_utils.get_split_uri(examples, props.get("eval_split", "eval"))
        representative, eval_data = _edge_inputs(
            model_dir, options, feature, label, train_uri, eval_uri
        )
        report = export_edge(model_dir, edge_models.uri, options, representative, eval_data)
        self._record(report, edge_models, report_artifact)

    @staticmethod
    def _record(
        report: EdgeReport, edge_models: types.Artifact, report_artifact: types.Artifact
    ) -> None:
        Path(report_artifact.uri).mkdir(parents=True, exist_ok=True)
        report_path = Path(report_artifact.uri) / fmts.REPORT_FILE
        src = Path(edge_models.uri) / fmts.REPORT_FILE
        if src.is_file():
            shutil.copyfile(src, report_path)
        else:
            report.write(report_path)
        blessed = report.blessed_formats
        edge_models.set_int_custom_property("blessed", int(bool(blessed)))
        edge_models.set_string_custom_property("blessed_formats", ",".join(blessed))
        edge_models.set_int_custom_property("needs_flex", int(report.needs_flex))
        all_blessed = bool(report.formats) and len(blessed) == len(report.formats)
        report_artifact.set_int_custom_property("all_blessed", int(all_blessed))
        report_artifact.set_string_custom_property("summary", format_table(report))


def _edge_inputs(
    model_dir: str, options: fmts.ExportOptions, feature: str, label: str,
    train_uri: str, eval_uri: str,
) -> tuple[data_lib.Dataset | None, data_lib.Dataset | None]:
    """Calibration and eval inputs for the edge signature, as its edge spec says to get them.

    ``examples``: the feature from the train and eval splits, or the serialized examples
    (``data.SERIALIZED_EXAMPLE``), through the spec's ``example_signature`` when raw values
    need mapping (e.g. text to token ids, tabular features to one vector);
    ``normal``: none from the examples (a generator's input is noise, which ``export_edge``
    samples from a standard normal itself, as it does for ``dlpipe export-edge``).
    """
    spec = options.edge_spec or edge_lib.read_edge_spec(model_dir)
    if spec is not None and spec.input_source == "normal":
        return None, None  # export_edge samples the noise itself
    raw_feature = (spec.example_feature if spec is not None and spec.example_feature
                   else feature)
    representative = data_lib.load_examples(
        train_uri, raw_feature, None, limit=options.num_representative
    )
    info = read_task_info(model_dir)
    task = info["task"] if info else {}
    if spec is not None and spec.task not in ("classification", "regression"):
        label = None  # e.g. a retrieval model's "label" is an item id: no accuracy to measure
    eval_data = data_lib.load_examples(
        eval_uri, raw_feature, label, label_keys=task.get("class_keys") or None,
        numeric_label=task.get("kind") == TABULAR_REGRESSION)
    if spec is not None and spec.example_signature:
        from components.edge_export.signature import load_saved_model

        loaded = load_saved_model(model_dir)
        representative, eval_data = (
            data_lib.map_with_signature(d, loaded, spec.example_signature, raw_feature,
                                        output=spec.input_name)
            for d in (representative, eval_data)
        )
    return representative, eval_data


def _parse_spec(text: str | None) -> edge_lib.EdgeSpec | None:
    if not text:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"edge_spec must be a JSON object. Received: {text!r}")
    return edge_lib.EdgeSpec.from_dict(data)


def _spec_input_name(model_dir: str, signature: str) -> str:
    """The example feature of the input: the edge spec's input name, else the signature's."""
    spec = edge_lib.read_edge_spec(model_dir)
    if spec is not None:
        return spec.input_name
    from components.edge_export.signature import load_saved_model

    fn = load_saved_model(model_dir).signatures.get(signature)
    inputs = fn.structured_input_signature[1] if fn is not None else {}
    if len(inputs) != 1:
        raise ValueError(
            f"Cannot tell which example feature feeds signature {signature!r} of {model_dir!r} "
            f"(inputs: {sorted(inputs)}); set the component's feature_key."
        )
    return next(iter(inputs))
