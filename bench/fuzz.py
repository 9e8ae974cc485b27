"""Serving robustness benchmark (not a test): larger fuzz runs, and what big bodies cost.

Starts ``dlpipe serve`` on the serving tests' models, then:

1. sends ``--count`` REST requests and ``--count`` gRPC messages from ``tests/serving/
   fuzz_cases.py`` (the recorded corpus plus seeded generators), from ``--clients`` threads
   per protocol, and prints the answers by status, every bad answer (5xx, INTERNAL,
   UNKNOWN, an empty message, TensorFlow internals, no answer before the deadline), the
   time taken and the server's RSS before, at its peak and after (batching on);
2. times single large REST bodies on a second server (batching off, so a large batch is
   allowed): valid float bodies up to the default limit, the worst case (the last value of
   a large integer body is bad), and a 50 MB body (refused by size), with the RSS each time.

Usage: .venv/bin/python bench/fuzz.py [--count 20000] [--clients 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.serving import free_port  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def export_models(root: Path) -> Path:
    from serving import config as config_lib
    from serving.config import ServedModel
    from tests import model_fixtures as fixtures

    exports = root / "exports"
    fixtures.export_digits_model(exports / "digits", seed=0)
    fixtures.export_regress_model(exports / "regress")
    fixtures.export_multi_io_model(exports / "multi")
    serving = root / "serving"
    for name in ("digits", "regress", "multi"):
        fixtures.publish_version(serving / name, 1, exports / name)
    config_lib.write_models_config(serving, [ServedModel("digits"), ServedModel("regress"),
                                             ServedModel("multi")])
    return serving / "models.config"


class Peak:
    """Samples a process's RSS every 50 ms; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def start_server(config: Path, timeout_ms: int, batching: bool) -> tuple:
    """``dlpipe serve`` on free ports: (process, REST base URL, gRPC target)."""
    grpc_port, rest_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dlpipe")), "serve", f"--port={grpc_port}",
         f"--rest_api_port={rest_port}", f"--model_config_file={config}",
         "--file_system_poll_wait_seconds=0", f"--enable_batching={str(batching).lower()}",
         f"--rest_api_timeout_in_ms={timeout_ms}", "--log_level=ERROR"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if "REST on" not in proc.stdout.readline():
        proc.kill()
        raise SystemExit("dlpipe serve did not start")
    return proc, f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"


def fuzz(rest: str, target: str, count: int, clients: int, seed: int,
         timeout: float) -> tuple[collections.Counter, collections.Counter, list[str], float]:
    import grpc
    import requests

    from tests.serving import fuzz_cases

    rest_cases = fuzz_cases.rest_cases(seed, count)
    grpc_cases = fuzz_cases.grpc_cases(seed, count)
    statuses: collections.Counter = collections.Counter()
    codes: collections.Counter = collections.Counter()
    failures: list[str] = []
    lock = threading.Lock()
    local = threading.local()
    channel = grpc.insecure_channel(target)

    def send_rest(case) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        try:
            status, message = fuzz_cases.send_rest(session, rest, case, timeout)
        except requests.Timeout:
            status, message = -1, "no answer before the deadline"
        except requests.ConnectionError:
            local.session = None
            status, message = 0, "connection closed"
        problem = fuzz_cases.check_rest(case, status, message) if status != -1 else message
        with lock:
            statuses[status] += 1
            if problem:
                failures.append(f"REST {problem}: {message[:160]!r} <- {case.describe()}")

    def send_grpc(case) -> None:
        code, details = fuzz_cases.send_grpc(channel, case, timeout)
        problem = fuzz_cases.check_grpc(code, details)
        with lock:
            codes[code] += 1
            if problem:
                failures.append(f"gRPC {problem}: {details[:160]!r} <- {case.describe()}")

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients * 2) as pool:
        list(pool.map(send_rest, rest_cases))
        list(pool.map(send_grpc, grpc_cases))
    channel.close()
    return statuses, codes, failures, time.perf_counter() - started


def big_bodies(rest: str, pid: int, max_bytes: int) -> list[tuple[str, int, int, float, float]]:
    """(what, body bytes, HTTP status, seconds, server RSS MB after) for large REST bodies."""
    import numpy as np
    import requests

    rng = np.random.default_rng(0)
    url = f"{rest}/v1/models/digits:predict"
    rows = []

    def post(what: str, body: bytes) -> None:
        started = time.perf_counter()
        resp = requests.post(url, data=body, timeout=120)
        rows.append((what, len(body), resp.status_code, time.perf_counter() - started,
                     rss_mb(pid)))

    for mb in (1, 8, 15):
        n = int(mb * 1e6 / (64 * 21))
        body = json.dumps({"instances": rng.random((n, 8, 8)).astype(np.float32).tolist()})
        post(f"valid floats, {n} images", body.encode())
    ints = rng.integers(0, 17, (int(max_bytes * 0.95 / (64 * 3.9)), 8, 8)).tolist()
    ints[-1][-1][-1] = "x"
    for key in ("instances", "inputs"):
        post(f"integers, last value bad ({key})", json.dumps({key: ints}).encode())
    post("50 MB body", b'{"instances": [' + b"1.0," * (50_000_000 // 4) + b"1.0]}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="Cases per protocol.")
    parser.add_argument("--clients", type=int, default=4, help="Threads per protocol.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout_ms", type=int, default=30_000,
                        help="The server's --rest_api_timeout_in_ms; clients wait 10 s more.")
    args = parser.parse_args()
    from serving.server import DEFAULT_MAX_BODY_BYTES

    with tempfile.TemporaryDirectory(prefix="dlpipe-fuzz-") as tmp:
        config = export_models(Path(tmp))
        proc, rest, target = start_server(config, args.timeout_ms, batching=True)
        try:
            before = rss_mb(proc.pid)
            peak = Peak(proc.pid)
            statuses, codes, failures, seconds = fuzz(
                rest, target, args.count, args.clients, args.seed, args.timeout_ms / 1000 + 10)
            fuzz_peak = peak.stop()
            after = rss_mb(proc.pid)
            print(f"fuzz: seed {args.seed}, {args.count} REST + {args.count} gRPC cases, "
                  f"{args.clients} clients per protocol, {seconds:.1f} s")
            print(f"  REST answers: {dict(sorted(statuses.items()))}")
            print(f"  gRPC answers: {dict(sorted(codes.items()))}")
            print(f"  bad answers: {len(failures)}")
            for line in failures[:30]:
                print(f"    {line}")
            print(f"  server RSS: {before:.0f} MB before, {fuzz_peak:.0f} MB peak, "
                  f"{after:.0f} MB after ({after - before:+.0f} MB)")
        finally:
            proc.kill()
            proc.wait()
        proc, rest, _ = start_server(config, args.timeout_ms, batching=False)
        try:
            print(f"large bodies (limit {DEFAULT_MAX_BODY_BYTES} bytes), server RSS "
                  f"{rss_mb(proc.pid):.0f} MB at start:")
            peak = Peak(proc.pid)
            for what, size, status, secs, rss in big_bodies(rest, proc.pid,
                                                              DEFAULT_MAX_BODY_BYTES):
                print(f"  {what:<40} {size / 1e6:5.1f} MB  HTTP {status}  {secs:5.2f} s  "
                      f"RSS after {rss:4.0f} MB")
            print(f"  server RSS peak {peak.stop():.0f} MB")
        finally:
            proc.kill()
            proc.wait()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
