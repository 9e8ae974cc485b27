"""``dlpipe runs``: the pipeline's run history from ML Metadata; ``dlpipe runs show ID``.

The list has one row per run: id, start, duration, state (complete, failed at a component,
stopped on request, running, died: ended without recording how), data span, blessed, pushed
version and eval accuracy. ``show`` adds each component's state, duration and output
artifact paths.
"""

from __future__ import annotations

import argparse
import logging

from pipeline.commands import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["list", "show"], default="list",
                        help="'list' (default) or 'show' one run.")
    parser.add_argument("run_id", nargs="?", help="The run to show (from the list).")
    add_config_arguments(
        parser, "Override a config key, e.g. --set output_root=/srv/dlpipe (repeatable)."
    )


def _show(config, store, run_id: str) -> int:
    from dlpipe.errors import DlpipeError
    from pipeline.history import components, format_runs, list_runs
    from pipeline.summary import summarize

    records = {r.run_id: r for r in list_runs(config, store)}
    if run_id not in records:
        known = ", ".join(list(records)[-3:]) or "none"
        raise DlpipeError(f"No run {run_id!r} of pipeline '{config.name}' in "
                          f"{config.metadata_location}. Latest runs: {known}.")
    print(format_runs([records[run_id]]))
    summary = summarize(config, run_id)
    if summary.blessing_reason:
        print(f"\nblessing: {summary.blessing_reason}")
    if summary.baseline_diff:
        diffs = ", ".join(f"{k} {v:+.4f}" for k, v in sorted(summary.baseline_diff.items())
                          if k != "example_count")
        print(f"vs. latest blessed model: {diffs}")
    if summary.push_reason:
        print(f"push: {summary.push_reason}")
    print("\ncomponents:")
    for c in components(store, run_id):
        print(f"  {c.node:<32} {c.state:<9} {c.seconds:7.1f} s  "
              f"(execution {c.execution_id}, {c.started:%H:%M:%S})")
        for key, uri in sorted(c.outputs.items()):
            print(f"      {key}: {uri}")
    run_dir = config.pipeline_root / "_runs" / run_id
    if run_dir.is_dir():
        print(f"\nrun dir: {run_dir} (config.yaml, pipeline.log, summary.json)")
    return 0


def main(args: argparse.Namespace) -> int:
    from dlpipe.quiet import import_tensorflow_quietly
    from pipeline.config import ConfigError, load_config
    from pipeline.history import format_runs, list_runs
    from pipeline.metadata import check_store, open_store

    config = load_config(args.config, args.set)
    if args.action == "show" and not args.run_id:
        raise ConfigError("dlpipe runs show needs a run id (see 'dlpipe runs').")
    check_store(config)
    store = open_store(config, readonly=True)
    import_tensorflow_quietly()  # the eval metrics are read with TFMA
    # TFMA's metrics reader calls APIs TensorFlow logs as deprecated, once per run listed.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if args.action == "show":
        return _show(config, store, args.run_id)
    records = list_runs(config, store)
    if not records:
        print(f"No runs of pipeline '{config.name}' in {config.metadata_location}.")
        return 0
    print(format_runs(records))
    return 0
