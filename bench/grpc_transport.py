"""The gRPC transports' own cost: CPU per call with a handler that does nothing.

Runs each transport of ``dlpipe serve``'s gRPC port in its own process, one process each,
with a handler that answers an empty message at once: dlpipe's (``serving/h2.py``) and
grpcio's ``grpc.aio`` server (``--grpc_implementation=grpcio``). ``h2load -t1 -cN -m1``
sends framed gRPC calls for ``--seconds``; the server's CPU time comes from /proc. Prints
calls/s and CPU microseconds per call for each, and their ratio (one run, same machine).

    .venv/bin/python bench/grpc_transport.py [--seconds 5] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATH = "/tensorflow.serving.PredictionService/Predict"
EMPTY = b"\x0a\x00"  # a tiny serialized message


def serve(implementation: str, port: int) -> None:
    """The child process: a do-nothing server on ``port`` until killed."""
    sys.path.insert(0, str(REPO))
    if implementation == "dlpipe":
        from serving import h2
        from serving.errors import Code
        from serving.grpc_service import _bind_socket

        async def handler(path: str, message: bytes, timeout: float | None):
            return Code.OK, "", EMPTY

        async def main() -> None:
            server = h2.GrpcH2Server(handler, max_message_bytes=1 << 20)
            await server.start(_bind_socket("127.0.0.1", port, False))
            print("ready", flush=True)
            await asyncio.Event().wait()
    else:
        import grpc

        async def handler(request: bytes, context) -> bytes:
            return EMPTY

        async def main() -> None:
            server = grpc.aio.server()
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
                "tensorflow.serving.PredictionService",
                {"Predict": grpc.unary_unary_rpc_method_handler(handler)}),))
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
            print("ready", flush=True)
            await server.wait_for_termination()
    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(implementation: str, seconds: float, connections: int, body: Path) -> dict:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", implementation,
                             "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the {implementation} server did not start")
        h2load = ["h2load", "-t1", f"-c{connections}", "-m1", "-d", str(body),
                  "-H", "content-type: application/grpc", "-H", "te: trailers",
                  f"http://127.0.0.1:{port}{PATH}"]
        subprocess.run(h2load + ["-D1"], capture_output=True, check=True)  # warm
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        out = subprocess.run(h2load + [f"-D{seconds:g}"], capture_output=True, text=True,
                             check=True).stdout
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if done is None:
        raise SystemExit(f"Cannot read h2load's output:\n{out}")
    calls = int(done[2])
    return {"calls": calls, "calls_s": calls / wall, "cpu_us": cpu / calls * 1e6,
            "cores": cpu / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if shutil.which("h2load") is None:
        raise SystemExit("h2load is missing: apt-get install nghttp2-client "
                         "(or run bench/serving.py once, which installs it)")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; h2load -t1 -c{args.connections} -m1, "
          f"{args.seconds:g} s; one server process, a handler that does nothing")
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "call.grpc"
        body.write_bytes(b"\0" + len(EMPTY).to_bytes(4, "big") + EMPTY)
        results = {}
        for implementation in ("dlpipe", "grpcio"):
            r = results[implementation] = measure(implementation, args.seconds,
                                                  args.connections, body)
            print(f"{implementation:7} {r['calls_s']:9,.0f} calls/s  {r['cpu_us']:6.1f} µs CPU "
                  f"per call  ({r['cores']:.2f} cores)", flush=True)
    ratio = results["grpcio"]["cpu_us"] / results["dlpipe"]["cpu_us"]
    print(f"grpcio spends {ratio:.1f}x dlpipe's CPU per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
