"""The ``dlpipe`` command line.

Each subcommand lives in its own module with two functions, ``add_arguments(parser)`` and
``main(args) -> int``. Those modules import nothing heavy at module level (TensorFlow and
TFX are imported inside ``main``), so ``dlpipe --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "pipeline.commands.init",
        "Read a data source and write a starter config (task, classes, features, model).",
    ),
    "run": ("pipeline.commands.run", "Run the pipeline (ingest, validate, train, evaluate, push)."),
    "config": ("pipeline.commands.config", "Show the resolved config or every config key."),
    "serve": ("serving.commands.serve", "Serve models over TF Serving's REST and gRPC APIs."),
    "predict": ("serving.commands.predict", "Send a JSON request or an image to a model server."),
    "schedule": (
        "pipeline.commands.schedule",
        "Run the pipeline on a cron or interval schedule (foreground; one run at a time).",
    ),
    "runs": ("pipeline.commands.runs", "List past runs from ML Metadata, or show one run."),
    "export": (
        "pipeline.commands.export",
        "Write the pipeline for Airflow (DAG file) or Kubeflow Pipelines / Vertex (spec).",
    ),
    "report": (
        "pipeline.commands.report",
        "Write the HTML report of a past run (default: the latest) and print its path.",
    ),
    "export-edge": (
        "pipeline.commands.export_edge",
        "Convert a SavedModel to TFLite and ONNX, check each format, print the edge report.",
    ),
    "beam-worker-pool": (
        "pipeline.commands.beam_worker_pool",
        "Run a Beam worker pool (beam.environment_type EXTERNAL) on this machine.",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlpipe",
        description="dlpipe: TFX pipelines for Keras models, with serving and edge export.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _quiet_environment() -> None:
    """Keeps TensorFlow's C++ start-up chatter off the console (users can override)."""
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    # google-api-core warns on every import that Python 3.10 is old; TFX 1.16 needs 3.10.
    warnings.filterwarnings("ignore", category=FutureWarning, module="google")


def main(argv: list[str] | None = None) -> int:
    _quiet_environment()
    from dlpipe.errors import DlpipeError
    from pipeline.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return int(args._module.main(args) or 0)
    except (ConfigError, DlpipeError) as e:
        print(f"dlpipe {args.command}: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, ConfigError) else 1
    except KeyboardInterrupt:
        print(f"dlpipe {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
