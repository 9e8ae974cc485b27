"""Serving benchmark (not a test): the digits CNN behind ``dlpipe serve``, batch-1 clients.

Starts ``dlpipe serve`` (a separate process, server-side batching on) on the repo's digits
CNN, drives it with N concurrent clients over gRPC and over REST (one batch-1 request at a
time each, for a fixed duration after a warm-up), and prints req/s, p50, p99 and errors
next to the in-process batched throughput of the same SavedModel measured in the same run
(the ceiling: the ``serving_default`` signature called with batches of 32..256).

Target (issue 4): 64 concurrent gRPC clients reach >= 50% of the ceiling with p99 <= 50 ms.

Usage: .venv/bin/python bench/serving.py [--clients 64] [--seconds 10] [--backend tensorflow]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export_model(root: Path) -> Path:
    """The repo's digits CNN (default builder arguments) with the serving signatures."""
    from models.cnn import build_cnn
    from tests.model_fixtures import IMAGE_SHAPE, NUM_CLASSES, export_digits_model

    model = build_cnn(IMAGE_SHAPE, NUM_CLASSES)
    return export_digits_model(root / "digits" / "1", model=model)


def ceiling(export_dir: Path, seconds: float) -> tuple[float, int]:
    """Best in-process examples/s of ``serving_default`` over batch sizes 32..256."""
    import numpy as np
    import tensorflow as tf

    fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    best, best_batch = 0.0, 0
    for batch in (32, 64, 128, 256):
        x = tf.constant(np.random.default_rng(0).integers(0, 17, (batch, 8, 8)), tf.float32)
        for _ in range(20):
            fn(image=x)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 4:
            fn(image=x)
            n += batch
        rate = n / (time.perf_counter() - start)
        if rate > best:
            best, best_batch = rate, batch
    return best, best_batch


def batch1_rate(export_dir: Path, seconds: float) -> float:
    """In-process calls/s of ``serving_default`` with one example per call (for reference)."""
    import numpy as np
    import tensorflow as tf

    fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    x = tf.constant(np.zeros((1, 8, 8)), tf.float32)
    for _ in range(20):
        fn(image=x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(image=x)
        n += 1
    return n / (time.perf_counter() - start)


def summarize(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    import numpy as np

    lat = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {"req_s": len(latencies) / seconds, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "errors": errors, "n": len(latencies)}


async def drive_grpc(port: int, clients: int, warmup: float, seconds: float) -> dict:
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving import tensors

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(
        np.random.default_rng(1).integers(0, 17, (1, 8, 8)).astype(np.float32)))
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(4)]
    stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in channels]
    return await _drive(lambda i: stubs[i % len(stubs)].Predict(request, timeout=30), clients,
                        warmup, seconds, cleanup=[c.close() for c in channels])


async def drive_rest(port: int, clients: int, warmup: float, seconds: float) -> dict:
    """Keep-alive HTTP/1.1 clients on raw asyncio streams: each request goes out in one
    write (httpx sends headers and body separately and stalls on delayed ACKs, which
    measured the client instead of the server)."""
    import numpy as np

    body = json.dumps({"instances": np.random.default_rng(1).integers(0, 17, (1, 8, 8))
                       .astype(float).tolist()}).encode()
    request = (f"POST /v1/models/digits:predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    conns: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def call(i: int) -> None:
        if i not in conns:
            conns[i] = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = conns[i]
        writer.write(request)
        status = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if b" 200 " not in status:
            raise RuntimeError(status.decode())

    async def close() -> None:
        for _, writer in conns.values():
            writer.close()

    return await _drive(call, clients, warmup, seconds, cleanup=[close()])


async def _drive(call, clients: int, warmup: float, seconds: float, cleanup) -> dict:
    latencies: list[float] = []
    errors = 0
    t0 = time.perf_counter()
    measure_from, stop_at = t0 + warmup, t0 + warmup + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        while True:
            start = time.perf_counter()
            if start >= stop_at:
                return
            try:
                await call(i)
            except Exception:  # counted, the run goes on
                if start >= measure_from:
                    errors += 1
                continue
            if start >= measure_from:
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker(i) for i in range(clients)))
    for c in cleanup:
        await c
    return summarize(latencies, errors, seconds)


def start_server(root: Path, grpc_port: int, rest_port: int, backend: str,
                 batching: bool) -> subprocess.Popen:
    from serving import config as config_lib

    flags = [f"--port={grpc_port}", f"--rest_api_port={rest_port}", "--model_name=digits",
             f"--model_base_path={root / 'digits'}", "--log_level=WARNING",
             f"--backend={backend}", "--file_system_poll_wait_seconds=0"]
    if batching:
        params = config_lib.write_batching_parameters(
            root / "batching.pbtxt",
            config_lib.BatchingOptions(max_batch_size=64, batch_timeout_micros=2000,
                                       max_enqueued_batches=64, num_batch_threads=2))
        flags += ["--enable_batching", f"--batching_parameters_file={params}"]
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dlpipe")), "serve", *flags],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "REST on" not in line:
        proc.kill()
        raise SystemExit(f"dlpipe serve did not start: {line!r}")
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured time per run.")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--backend", default="tensorflow", choices=("tensorflow",))
    parser.add_argument("--no-batching", action="store_true", help="Also run without batching.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        root = Path(tmp)
        export_dir = export_model(root)
        rate, batch = ceiling(export_dir, seconds=4.0)
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores")
        print(f"in-process ceiling: {rate:,.0f} examples/s (serving_default, batch {batch})")
        print(f"in-process batch-1 calls: {batch1_rate(export_dir, 2.0):,.0f} calls/s "
              "(reference, not the target's ceiling)")
        rows = []
        for batching in ([True, False] if args.no_batching else [True]):
            proc = start_server(root, free_port(), free_port(), args.backend, batching)
            try:
                grpc_port, rest_port = _ports(proc)
                for api, drive, port in (("gRPC", drive_grpc, grpc_port),
                                         ("REST", drive_rest, rest_port)):
                    r = asyncio.run(drive(port, args.clients, args.warmup, args.seconds))
                    r.update(api=api, batching=batching, share=r["req_s"] / rate)
                    rows.append(r)
                    print(f"{api:4} batching={'on ' if batching else 'off'} "
                          f"clients={args.clients}: {r['req_s']:8,.0f} req/s  "
                          f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                          f"errors {r['errors']}  ({100 * r['share']:.1f}% of ceiling)")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
        grpc = next(r for r in rows if r["api"] == "gRPC" and r["batching"])
        ok = grpc["share"] >= 0.5 and grpc["p99_ms"] <= 50 and grpc["errors"] == 0
        print(f"target (gRPC, {args.clients} clients, >= 50% of ceiling, p99 <= 50 ms): "
              f"{'PASS' if ok else 'MISS'} ({100 * grpc['share']:.1f}%, p99 "
              f"{grpc['p99_ms']:.1f} ms)")
    return 0


def _ports(proc: subprocess.Popen) -> tuple[int, int]:
    cmd = proc.args
    grpc_port = int(next(a for a in cmd if a.startswith("--port=")).split("=")[1])
    rest_port = int(next(a for a in cmd if a.startswith("--rest_api_port=")).split("=")[1])
    return grpc_port, rest_port


if __name__ == "__main__":
    sys.exit(main())
