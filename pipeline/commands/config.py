"""``dlpipe config``: print the resolved config, or every key with its help."""

from __future__ import annotations

import argparse

from pipeline.commands import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--keys", action="store_true", help="List every key with its help.")


def main(args: argparse.Namespace) -> int:
    import yaml

    from dlpipe.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # the builder's signature is read to check hparams

    from pipeline import config as config_lib

    if args.keys:
        print("\n".join(config_lib.describe_schema()))
        return 0
    cfg = config_lib.load_config(args.config, args.set)
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
    return 0
