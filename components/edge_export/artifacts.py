"""ML Metadata artifact types of the edge components.

Their type names have the ``namespace.Name`` form Kubeflow Pipelines v2 requires of custom
artifact types (TFX's KubeflowV2DagRunner refuses others), so the edge steps compile into the
Kubeflow / Vertex spec like the standard components.
"""

from __future__ import annotations

from tfx.types import artifact


class EdgeModels(artifact.Artifact):
    """A directory of edge models: ``*.tflite``, ``model.onnx``, ``labels.txt``, ``metadata.json``.

    Custom properties set by the executor: ``blessed`` (1 if any format passed its gate),
    ``blessed_formats`` (comma-separated) and ``needs_flex`` (1 if a produced TFLite file
    holds Flex ops).
    """

    TYPE_NAME = "dlpipe.EdgeModels"


class EdgeReport(artifact.Artifact):
    """The edge report: ``edge_report.json`` (per format size, parity, metric, latency, gate).

    Custom properties: ``all_blessed`` (1 if every requested format passed its gate) and
    ``summary`` (the report as a text table).
    """

    TYPE_NAME = "dlpipe.EdgeReport"
