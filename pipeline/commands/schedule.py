"""``dlpipe schedule``: run the pipeline on a cron or interval schedule, in the foreground.

Each trigger starts ``dlpipe run`` with the same ``--config`` and ``--set`` arguments (see
``pipeline.schedule`` for the rules: one run at a time, a missed trigger runs once, SIGTERM
stops after the current component). Stop it with SIGTERM or Ctrl-C; as a service, use the
systemd unit in ``docs/scheduling.md``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="YAML or TOML config file (default: pipeline/configs/digits_cnn.yaml)."
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="Override a config key for every run (repeatable).",
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--cron", metavar="EXPR",
        help="Crontab line, 5 fields, local time, e.g. '0 3 * * *' (default: schedule.cron).",
    )
    when.add_argument(
        "--every", metavar="INTERVAL",
        help="Interval: a number and s/m/h/d, e.g. 6h (default: schedule.every).",
    )


def main(args: argparse.Namespace) -> int:
    import datetime
    import signal
    import sys

    from pipeline.cli import import_tensorflow_quietly
    from pipeline.config import ConfigError, load_config
    from pipeline.runner import check_writable
    from pipeline.schedule import PipelineScheduler, ScheduleError, make_trigger, run_command

    import_tensorflow_quietly()  # validating train.hparams imports the model builder
    config = load_config(args.config, args.set)
    cron = args.cron if args.cron is not None else ("" if args.every else config.schedule.cron)
    every = args.every if args.every is not None else ("" if args.cron else config.schedule.every)
    try:
        trigger = make_trigger(cron=cron, every=every)
    except ScheduleError as e:
        raise ConfigError(str(e)) from None
    state_dir = config.root / "schedule"
    check_writable(state_dir, "Scheduler state directory")

    def log(line: str) -> None:
        stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        print(f"{stamp} dlpipe schedule: {line}", flush=True)

    scheduler = PipelineScheduler(trigger, run_command(args.config, args.set), state_dir,
                                  config.name, log)
    signal.signal(signal.SIGTERM, scheduler.request_stop)
    signal.signal(signal.SIGINT, scheduler.request_stop)
    log(f"pipeline '{config.name}' {'cron ' + repr(cron) if cron else 'every ' + every}; "
        f"state in {scheduler.state_path}")
    sys.stdout.flush()
    return scheduler.serve()
