"""CLI subcommands (see pipeline/cli.py for the contract)."""
