"""``dlpipe export airflow|kubeflow``: the same pipeline for another orchestrator.

``airflow`` writes a DAG file (TFX's AirflowDagRunner) with the schedule in it;
``kubeflow`` writes a Kubeflow Pipelines v2 / Vertex AI PipelineJob spec (TFX's
KubeflowV2DagRunner) whose steps run in the project's Docker image, and prints where the
steps read the input and how to create the recurring run. A target that is not installed:
one line, exit 1, no file.
"""

from __future__ import annotations

import argparse

from pipeline.commands import add_config_arguments, add_schedule_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["airflow", "kubeflow"], help="Orchestrator.")
    add_config_arguments(parser, "Override a config key (repeatable).")
    add_schedule_arguments(parser)
    parser.add_argument(
        "--output", "-o",
        help="File to write (default: <output_root>/exports/<name>_airflow_dag.py or "
             "<name>_kubeflow.json).",
    )
    parser.add_argument(
        "--image", default="dlpipe:latest",
        help="Kubeflow: the container image every step runs (built from the Dockerfile and "
             "pushed to a registry the cluster pulls from).",
    )


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.config import ConfigError, load_config
    from pipeline.schedule import ScheduleError, make_trigger

    config = load_config(args.config, args.set)
    cron = args.cron if args.cron is not None else ("" if args.every else config.schedule.cron)
    every = args.every if args.every is not None else ("" if args.cron else config.schedule.every)
    if cron or every:
        try:
            make_trigger(cron=cron, every=every)
        except ScheduleError as e:
            raise ConfigError(str(e)) from None
    from pipeline.orchestrators import airflow, kubeflow
    from pipeline.tasks import prepare

    # A target that is not installed fails before the input is read (nothing is written).
    (airflow if args.target == "airflow" else kubeflow).check_installed()
    prepared = prepare(config)  # the task is resolved against the data, as for a run
    task, feature_map = prepared.task, prepared.source.tfds_feature_map
    suffix = "_airflow_dag.py" if args.target == "airflow" else "_kubeflow.json"
    out = Path(args.output or config.root / "exports" / f"{config.name}{suffix}").resolve()

    if args.target == "airflow":
        from dlpipe.files import write_atomically

        write_atomically(out, airflow.render_dag(config, task, cron=cron, every=every,
                                                 tfds_feature_map=feature_map))
        print(f"Airflow DAG written: {out}")
        print("  copy it into Airflow's dags folder; the workers need dlpipe installed")
        return 0

    from dlpipe.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    kubeflow.write_spec(config, task, out, image=args.image, tfds_feature_map=feature_map)
    print(f"Kubeflow Pipelines v2 / Vertex AI spec written: {out} (image {args.image})")
    print(f"  input: the steps read {kubeflow.input_location(config)}; put the data there on "
          "the volume or bucket mounted at output_root (README, 'Exports')")
    for line in kubeflow.schedule_help(out, cron=cron, every=every):
        print(line)
    return 0
