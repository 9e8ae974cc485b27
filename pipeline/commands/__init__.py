"""CLI subcommands (see pipeline/cli.py for the contract) and the arguments they share."""

from __future__ import annotations

import argparse

DEFAULT_CONFIG_HELP = "YAML or TOML config file (default: pipeline/configs/digits_cnn.yaml)."


def add_config_arguments(
    parser: argparse.ArgumentParser,
    set_help: str = "Override a config key, e.g. --set train.train_steps=100 (repeatable).",
    config_help: str = DEFAULT_CONFIG_HELP,
) -> None:
    """``--config FILE`` and repeatable ``--set KEY=VALUE``, as every config-reading command
    takes them (``load_config(args.config, args.set)``)."""
    parser.add_argument("--config", help=config_help)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help=set_help
    )


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cron EXPR`` or ``--every INTERVAL`` (exclusive; defaults from the config)."""
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--cron", metavar="EXPR",
        help="Crontab line, 5 fields, local time, e.g. '0 3 * * *' (default: schedule.cron).",
    )
    when.add_argument(
        "--every", metavar="INTERVAL",
        help="Interval: a number and s/m/h/d, e.g. 6h (default: schedule.every).",
    )
