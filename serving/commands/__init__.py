"""``dlpipe serve`` and ``dlpipe predict`` (registered in pipeline/cli.py)."""
