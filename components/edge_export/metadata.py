"""``metadata.json``: the contract between the edge files and the apps that load them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from components.edge_export import formats as fmts
from components.edge_export.report import EdgeReport
from components.edge_export.signature import EdgeSignature

SCHEMA_VERSION = 1


def build_metadata(report: EdgeReport, sig: EdgeSignature, files_dir: str | Path) -> dict[str, Any]:
    """Builds the metadata of every produced format (``blessed`` says which passed).

    Args:
      report: The finished edge report.
      sig: The converted signature.
      files_dir: Directory holding the produced files (for their sha256).

    Returns:
      A JSON-ready dict; see docs/edge.md for the fields.
    """
    spec = sig.spec
    formats = {}
    for r in report.formats:
        if r.file is None:
            continue
        formats[r.format] = {
            "file": r.file,
            "runtime": fmts.RUNTIMES[r.format],
            "blessed": r.blessed,
            "size_bytes": r.size_bytes,
            "sha256": _sha256(Path(files_dir) / r.file),
            "needs_flex": r.needs_flex,
            "ops": r.ops,
            "input": r.io.get("input"),
            "output": r.io.get("output"),
            "max_abs_diff": r.max_abs_diff,
            "accuracy": r.accuracy,
            "size_ratio": r.size_ratio,
            "tflite_metadata": r.tflite_metadata,
        }
    labels = list(spec.labels) if spec else []
    return {
        "schema_version": SCHEMA_VERSION,
        "model_name": None,
        "version": None,
        "source": {"saved_model": report.model_dir, "signature": sig.key},
        "notes": report.notes,
        "task": report.task,
        "input": {
            "name": sig.input.name,
            "shape": [None, *sig.file_shape()],
            "dtype": sig.input.dtype,
            "range": list(spec.input_range) if spec and spec.input_range else None,
            "normalization": _normalization(sig),
        },
        "output": {
            "name": sig.output.name,
            "shape": list(sig.output.shape) if sig.output.shape is not None else None,
            "dtype": sig.output.dtype,
            "meaning": spec.output_meaning if spec else "",
            "labels_file": fmts.LABELS_FILE if labels else None,
        },
        "needs_flex": report.needs_flex,
        "reference": report.reference,
        "formats": formats,
    }


def _normalization(sig: EdgeSignature) -> str:
    spec = sig.spec
    text = (spec.normalization if spec and spec.normalization
            else "none declared: feed the values the SavedModel signature takes")
    if sig.rgb_from_grey:
        text += (" The files take RGB [H, W, 3] and make it grey with the weights "
                 "0.2989, 0.5870, 0.1140 (scaled to sum to 1): send grey as R = G = B.")
    if sig.token_padding is not None:
        text += (f" Padding ids ({sig.token_padding}) may sit anywhere: the files move them "
                 "to the front first.")
    return text


def only_blessed(metadata: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``metadata`` listing only the blessed formats."""
    out = dict(metadata)
    out["formats"] = {k: v for k, v in metadata["formats"].items() if v["blessed"]}
    out["needs_flex"] = any(v["needs_flex"] for v in out["formats"].values())
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
