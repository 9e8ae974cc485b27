"""``dlpipe schedule``: run the pipeline on a cron or interval schedule, in the foreground.

Each trigger starts ``dlpipe run`` with the same ``--config`` and ``--set`` arguments (see
``pipeline.schedule`` for the rules: one run at a time, a missed trigger runs once, SIGTERM
stops after the current component). Stop it with SIGTERM or Ctrl-C; as a service, use the
systemd unit in ``docs/scheduling.md``.
"""

from __future__ import annotations

import argparse

from pipeline.commands import add_config_arguments, add_schedule_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, "Override a config key for every run (repeatable).")
    add_schedule_arguments(parser)


def main(args: argparse.Namespace) -> int:
    import datetime
    import signal
    import sys

    from dlpipe.quiet import import_tensorflow_quietly
    from pipeline.config import ConfigError, load_config
    from pipeline.runner import check_writable
    from pipeline.schedule import PipelineScheduler, ScheduleError, make_trigger, run_command

    import_tensorflow_quietly()  # validating model.hparams imports the model builder
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
