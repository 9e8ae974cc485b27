"""``dlpipe beam-worker-pool``: an external Beam worker pool for ``environment_type: EXTERNAL``.

Each worker it starts installs the job's staged files (dlpipe's wheel) and runs Beam's SDK
harness (``pipeline.beam.boot``). It listens on loopback unless ``--host`` says otherwise:
the pool runs whatever code a job stages, so only trusted job services may reach it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="Address to listen on (default 127.0.0.1: this machine only; "
                             "0.0.0.0: every interface, for job services on other hosts).")
    parser.add_argument("--port", type=int, default=50000,
                        help="Port to listen on (default 50000; 0: a free one, printed).")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="Workers' directories, installed packages and logs (default: a "
                             "new temporary directory).")


def main(args: argparse.Namespace) -> int:
    from pipeline.beam.worker_pool import serve_forever

    return serve_forever(args.host, args.port, args.work_dir)
