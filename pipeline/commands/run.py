"""``dlpipe run``: run the pipeline and print what came of it.

Exit status: 0 when the pipeline completed (whether or not the model was blessed and
pushed: the summary says), 1 when it stopped (anomalies, a failed component, bad input),
2 for a bad config.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from pipeline.commands import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def _format_summary(config, outcome, summary) -> list[str]:
    lines = ["", f"Run {outcome.run_id}"]
    if outcome.stopped:
        lines.append(f"  STOPPED on request ({outcome.error})")
    elif outcome.error is not None:
        lines.append(f"  FAILED at {outcome.failed_component or 'start-up'}")
    if summary.span is not None and config.uses_spans:
        lines.append(f"  span:     {summary.span}")
    if summary.blessed is None:
        lines.append("  blessed:  no evaluation in this run")
    else:
        verdict = "yes" if summary.blessed else "NO"
        lines.append(f"  blessed:  {verdict} ({summary.blessing_reason})")
    if summary.pushed:
        lines.append(f"  pushed:   version {summary.pushed_version} -> {summary.pushed_path}")
    elif summary.push_reason:
        lines.append(f"  pushed:   no ({summary.push_reason})")
    else:
        lines.append("  pushed:   no")
    if summary.metrics:
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) and k != "example_count"
                          else f"{k} {int(v)}" for k, v in sorted(summary.metrics.items()))
        lines.append(f"  metrics:  {shown} ({summary.metrics_source})")
    if summary.baseline_diff:
        diffs = ", ".join(f"{k} {v:+.4f}" for k, v in sorted(summary.baseline_diff.items())
                          if k != "example_count")
        lines.append(f"  vs. latest blessed model: {diffs}")
    base = summary.mean_baseline
    from pipeline.evaluation import MAE, RECALL

    if base.get(MAE) is not None:
        mae = summary.metrics.get(MAE)
        ratio = f", {mae / base[MAE]:.2f}x" if mae is not None and base.get(MAE) else ""
        lines.append(f"  vs. predicting the train mean: {MAE} {base[MAE]:.4f}{ratio} "
                     f"({base['example_count']} labelled eval examples)")
    if base.get(RECALL) is not None:
        recall = summary.metrics.get(RECALL)
        ratio = (f", the model {recall / base[RECALL]:.2f}x" if recall is not None
                 and base[RECALL] else "")
        lines.append(f"  vs. the {base['k']} most popular items: {RECALL} "
                     f"{base[RECALL]:.4f}{ratio} ({base['example_count']} eval interactions)")
    if summary.per_class_accuracy:
        worst = min(summary.per_class_accuracy.items(), key=lambda kv: kv[1])
        lines.append(f"  per class: lowest accuracy {worst[1]:.4f} (class {worst[0]})")
    if summary.edge_report:
        from components.edge_export.report import EdgeReport, format_table

        lines.append("  edge formats (checked against the SavedModel):")
        table = format_table(EdgeReport.from_dict(summary.edge_report))
        lines += ["    " + row for row in table.splitlines()]
    if summary.edge_pushed_path:
        lines.append(f"  edge push: {summary.edge_pushed_formats} -> {summary.edge_pushed_path}")
    lines += [
        f"  artifacts: {config.pipeline_root}",
        f"  metadata:  {config.metadata_location}",
        f"  run dir:   {outcome.run_dir} (config.yaml, pipeline.log, summary.json)",
    ]
    return lines


def main(args: argparse.Namespace) -> int:
    from dlpipe.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from components.validation_gate.anomalies import format_anomalies
    from pipeline.config import load_config
    from pipeline.runner import run_pipeline
    from pipeline.summary import summarize

    config = load_config(args.config, args.set)
    outcome = run_pipeline(config)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TFMA's readers warn on use
    summary = summarize(config, outcome.run_id)
    (outcome.run_dir / "summary.json").write_text(
        json.dumps(dataclasses.asdict(summary), indent=2, default=str)
    )
    if outcome.error is not None and summary.anomalies:
        print(f"\nData validation failed: {len(summary.anomalies)} anomalies; "
              "the run stopped before Transform and nothing was pushed.")
        print(format_anomalies(summary.anomalies))
    elif outcome.error is not None and not outcome.stopped:
        cause = str(outcome.error).strip().splitlines()
        print(f"\n{outcome.failed_component or 'The pipeline'} failed: "
              f"{type(outcome.error).__name__}: {cause[-1] if cause else ''}")
        print(f"Full log: {outcome.log_path}")
    print("\n".join(_format_summary(config, outcome, summary)))
    from pipeline.report import report_after_run

    report_after_run(config, outcome, summary)  # prints its path; never changes the status
    return 1 if outcome.error is not None else 0
