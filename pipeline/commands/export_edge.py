"""``dlpipe export-edge``: convert any SavedModel to TFLite and ONNX and print the edge report.

Any SavedModel: without an ``edge`` signature ``serving_default`` is converted (said once);
labels and the input range come from ``--labels`` / ``--input-range`` when the model declares
no edge spec, and a classifier's accuracy is measured whenever ``--eval-data`` has labels.
Files land in ``--output`` (default: ``<model dir>_edge`` beside the model, never the current
directory), and nothing is written when no format could be produced.

Exit status: 0 when every requested format was produced and passed its gate, 3 when some
format failed (the table says which and why), 1 for a user error (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EXIT_SOME_FORMATS_FAILED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="SavedModel directory to convert.")
    parser.add_argument(
        "--formats",
        default="all",
        help="Comma-separated formats among float32, float16, dynamic_range, int8, onnx "
        "(default: all).",
    )
    parser.add_argument(
        "--representative-data",
        metavar="PATH",
        help="Calibration inputs for int8: .npy, .npz (array 'x') or tf.Example TFRecords "
        "(a file or a directory such as Split-train). Default: the eval data's inputs.",
    )
    parser.add_argument(
        "--eval-data",
        metavar="PATH",
        help="Parity and accuracy data: .npz with 'x' and 'y', or tf.Example TFRecords "
        "with the input feature and --label-key. Default: the representative data "
        "(parity only), else synthetic inputs.",
    )
    parser.add_argument(
        "--output", metavar="DIR",
        help="Output directory (default: <model dir>_edge beside the SavedModel).")
    parser.add_argument(
        "--signature", default="edge",
        help="Signature to convert (default: edge, else serving_default when there is none).")
    parser.add_argument(
        "--labels", metavar="FILE|A,B,...",
        help="Class names in output order (a file with one per line, or a comma-separated "
        "list) for a model that declares none: labels.txt and the TFLite labels file.")
    parser.add_argument(
        "--input-range", metavar="LOW,HIGH",
        help="Range of the raw input values the model takes, e.g. 0,255 or 0,1, for a model "
        "that declares none: image files get the Task Library normalization from it.")
    parser.add_argument("--name", help="Model name in the TFLite metadata (default: the "
                        "SavedModel directory's name).")
    parser.add_argument("--model-version", default="", help="Version in the TFLite metadata.")
    parser.add_argument("--author", help="Author in the TFLite metadata.")
    parser.add_argument("--license", help="License in the TFLite metadata.")
    parser.add_argument(
        "--rgb-input", action="store_true",
        help="A grey image model's files take [1, H, W, 3] RGB (the Task Library's "
        "ImageClassifier takes only RGB); the graph makes it grey.")
    parser.add_argument(
        "--feature-key", help="tf.Example feature of the input (default: the input's name)."
    )
    parser.add_argument("--label-key", default="label", help="tf.Example label feature.")
    parser.add_argument(
        "--int8-io",
        default="float32",
        choices=("float32", "int8", "uint8"),
        help="Input/output tensor type of the int8 model.",
    )
    parser.add_argument(
        "--allow-flex", action="store_true", help="Allow Flex (TF) ops in TFLite files."
    )
    parser.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=0.01,
        help="Accuracy drop allowed for quantized formats (fraction; default 0.01).",
    )
    parser.add_argument(
        "--gates", metavar="JSON", help='Per-format gates, e.g. \'{"int8": {"max_abs": 0.05}}\'.'
    )
    parser.add_argument("--num-parity", type=int, default=200, help="Parity examples.")
    parser.add_argument("--latency-runs", type=int, default=200, help="Timed calls per format.")
    parser.add_argument(
        "--edge-spec",
        metavar="JSON_FILE",
        help="Edge spec (labels, input range, normalization; see models/edge.py) for a "
        "SavedModel that declares none in assets.extra/edge_spec.json.",
    )
    parser.add_argument("--json", action="store_true", help="Print the JSON report instead.")


def main(args: argparse.Namespace) -> int:
    import json
    import logging

    from dlpipe.errors import DlpipeError

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TF and tf2onnx log deprecations of their own internals at WARNING: not the user's concern.
    for name in ("tensorflow", "tf2onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from components.edge_export import data as data_lib
    from components.edge_export import formats as fmts
    from components.edge_export.export import export_edge
    from components.edge_export.report import format_table
    from components.edge_export.signature import is_saved_model_dir, load_saved_model

    model = Path(args.model)
    if not is_saved_model_dir(model):
        load_saved_model(model)  # Raises NotASavedModelError naming what is there.
    from models import edge as edge_lib

    try:
        spec = None
        if args.edge_spec:
            spec = edge_lib.EdgeSpec.from_dict(json.loads(Path(args.edge_spec).read_text()))
        extra = {k: v for k, v in (("author", args.author), ("license", args.license)) if v}
        options = fmts.ExportOptions(
            labels=_labels(args.labels),
            input_range=_range(args.input_range),
            model_name=args.name or "",
            model_version=args.model_version,
            rgb_input=args.rgb_input,
            **extra,
            formats=fmts.parse_formats(args.formats),
            signature=args.signature,
            int8_io=args.int8_io,
            allow_flex=args.allow_flex,
            max_accuracy_drop=args.max_accuracy_drop,
            gate_overrides=fmts.parse_gate_overrides(args.gates),
            num_parity=args.num_parity,
            latency_runs=args.latency_runs,
            edge_spec=spec,
        )
    except (OSError, TypeError, ValueError) as e:
        raise DlpipeError(str(e)) from e
    feature = args.feature_key
    if feature is None and (args.representative_data or args.eval_data):
        feature = _input_name(model, args.signature, spec)
    try:
        representative = (
            data_lib.load_data(args.representative_data, feature, None)
            if args.representative_data
            else None
        )
        eval_data = (
            data_lib.load_data(args.eval_data, feature, args.label_key) if args.eval_data else None
        )
        output = Path(args.output) if args.output else default_output(model)
        report = export_edge(model, output, options, representative, eval_data)
    except data_lib.DataError as e:
        raise DlpipeError(str(e)) from e
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_table(report))
        written = any(r.file for r in report.formats)
        print(f"Files in {output}" if written else "No file written: no format was produced.")
    ok = report.formats and all(r.blessed for r in report.formats)
    return 0 if ok else EXIT_SOME_FORMATS_FAILED


def default_output(model: Path) -> Path:
    """``<model dir>_edge`` beside the SavedModel (``runs/m/1`` -> ``runs/m/1_edge``)."""
    model = model.resolve()
    return model.with_name(model.name + "_edge")


def _labels(value: str | None) -> tuple[str, ...]:
    """``--labels``: a file of one class name per line, or a comma-separated list."""
    if not value:
        return ()
    path = Path(value)
    if path.is_file():
        names = [ln.strip() for ln in path.read_text().splitlines()]
        names = [n for n in names if n]
        if not names:
            raise ValueError(f"--labels file {value!r} holds no class name; expected one per "
                             "line")
        return tuple(names)
    return tuple(n.strip() for n in value.split(","))


def _range(value: str | None) -> tuple[float, float] | None:
    """``--input-range LOW,HIGH`` as two floats with LOW < HIGH."""
    if not value:
        return None
    try:
        low, high = (float(v) for v in value.split(","))
    except ValueError:
        raise ValueError(f"--input-range must be LOW,HIGH (two numbers, e.g. 0,255). "
                         f"Received: {value!r}") from None
    if not low < high:
        raise ValueError(f"--input-range needs LOW < HIGH. Received: {value!r}")
    return low, high


def _input_name(model: os.PathLike, signature: str, fallback_spec: object | None) -> str:
    """The input name of the model's edge spec, else of ``fallback_spec``, else the signature's."""
    from components.edge_export.signature import load_saved_model
    from models import edge as edge_lib

    declared = edge_lib.read_edge_spec(model)
    if declared is not None:
        return declared.input_name
    if fallback_spec is not None:
        return fallback_spec.input_name
    signatures = load_saved_model(model).signatures
    fn = signatures.get(signature) or (
        signatures.get("serving_default") if signature == "edge" else None)
    inputs = fn.structured_input_signature[1] if fn is not None else {}
    # Several or no inputs: the export reports the signature problem per format.
    return next(iter(inputs)) if len(inputs) == 1 else "input"
