"""``dlpipe report``: write the HTML report of a past run again and print its path.

The run is read back from ML Metadata (default: the latest run); the report goes to
``<pipeline_root>/_runs/<run_id>/report.html`` with the model card beside it (see
``pipeline.report``). Exit status: 0 when written, 1 for an unknown run id or no runs,
2 for a bad config.
"""

from __future__ import annotations

import argparse
import logging

from pipeline.commands import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_id", nargs="?", metavar="RUN_ID",
        help="Run id as printed by `dlpipe run` (default: the latest run).",
    )
    add_config_arguments(
        parser, "Override a config key, e.g. --set output_root=runs (repeatable).",
        config_help="The run's YAML or TOML config file, for where its outputs are "
        "(default: pipeline/configs/digits_cnn.yaml).",
    )
    parser.add_argument(
        "--open", action="store_true", help="Open the report in the system's web browser.",
    )


def main(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.report.runs import resolve_run

    config = load_config(args.config, args.set)
    run_id = resolve_run(config, args.run_id)

    from dlpipe.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TFMA's readers warn on use
    from pipeline.report import write_report

    files = write_report(config, run_id)
    print(f"Run {run_id}")
    print(f"  report:     {files.html}")
    print(f"  model card: {files.model_card}")
    if files.served_model_card is not None:
        print(f"  model card: {files.served_model_card}")
    if args.open:
        import webbrowser

        if not webbrowser.open(files.html.as_uri()):
            print(f"  no web browser found: open {files.html} yourself")
    return 0
