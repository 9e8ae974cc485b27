"""Serving benchmark (not a test): ``dlpipe serve`` under native load generators.

The repo's digits CNN (8x8 images) is served by ``dlpipe serve`` in a separate process and
driven with batch-1 predict requests by native load generators, so that the clients do not
eat the server's CPU:

* REST: ``wrk`` (one thread, keep-alive connections, a Lua script for the POST body);
* gRPC: ``h2load`` (one thread, one stream per connection) POSTing a 5-byte-framed
  serialized ``PredictRequest`` with ``content-type: application/grpc`` and ``te: trailers``.
  h2load only sees HTTP statuses, and a failed gRPC call is an HTTP 200 with a non-zero
  ``grpc-status`` trailer, so a call counts as answered only when the server answered it OK:
  the server's own counts of predict calls by status (Prometheus, summed over its workers)
  are read before and after each run.

For every API, server configuration and connection count: req/s, p50, p99, errors and the
server's CPU (all its processes, in cores). Next to them, measured in the same run: the same
model called in-process with one example per call (calls/s) and with batches (examples/s),
and the server's rate as a ratio of each. Then the hot-swap warm-up check: the first request
to a freshly pushed version, with and without ``--enable_model_warmup``, against the median.

The tools come from Debian's packages ``wrk`` and ``nghttp2-client``; when they are missing
this script installs them with apt-get (as root), or says what to install.

Target (issue 13), printed at the end: at 64 connections of batch-1 requests, REST and gRPC
each reach >= 2x the in-process batch-1 call rate with p99 <= 50 ms and no errors; with
batching on, throughput grows with the connections from 8 to 64.

Usage:
  .venv/bin/python bench/serving.py                      # TF backend, full table
  .venv/bin/python bench/serving.py --backend onnx       # the ONNX Runtime backend
  .venv/bin/python bench/serving.py --connections 64 --seconds 5 --no-warmup-check
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TOOLS = {"wrk": "wrk", "h2load": "nghttp2-client"}  # binary -> Debian package
GRPC_PATH = "/tensorflow.serving.PredictionService/Predict"
REST_PATH = "/v1/models/digits:predict"


# ----- setup -------------------------------------------------------------------------------
def ensure_tools() -> None:
    """Installs wrk and h2load from Debian's packages when missing (root only)."""
    missing = [b for b in TOOLS if shutil.which(b) is None]
    if not missing:
        return
    packages = sorted({TOOLS[b] for b in missing})
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"bench/serving.py needs {', '.join(missing)}: install Debian's "
                         f"{' '.join(packages)} (apt-get install {' '.join(packages)}).")
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", *packages]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"Cannot install {' '.join(packages)} with apt-get: "
                             f"{result.stderr.strip().splitlines()[-1:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export_model(root: Path) -> Path:
    """The repo's digits CNN (default builder arguments) with the serving signatures."""
    from models.cnn import build_cnn
    from tests.model_fixtures import IMAGE_SHAPE, NUM_CLASSES, export_digits_model

    model = build_cnn(IMAGE_SHAPE, NUM_CLASSES)
    return export_digits_model(root / "export", model=model)


def write_edge_version(export_dir: Path, version_dir: Path) -> None:
    """``model.onnx`` and ``model_float32.tflite`` of the ``edge`` signature, as the edge
    export writes them (what ``--backend onnx`` / ``tflite`` serve)."""
    import tensorflow as tf
    import tf2onnx

    version_dir.mkdir(parents=True)
    loaded = tf.saved_model.load(str(export_dir))
    edge = loaded.signatures["edge"]

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8], tf.float32, name="image")])
    def probabilities(image):
        return {"probabilities": edge(image=image)["probabilities"]}

    tf2onnx.convert.from_function(probabilities, input_signature=probabilities.input_signature,
                                  opset=13, output_path=str(version_dir / "model.onnx"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([edge], loaded)
    (version_dir / "model_float32.tflite").write_bytes(converter.convert())
    (version_dir / "metadata.json").write_text(json.dumps({
        "input": {"name": "image", "shape": [None, 8, 8], "dtype": "float32"},
        "output": {"name": "probabilities", "shape": [None, 10], "dtype": "float32"},
    }))


def publish(base: Path, version: int, source: Path, backend: str, root: Path) -> Path:
    """Copies a version in under a temp name, then renames it (as the Pusher does)."""
    tmp = base / f".tmp-{version}"
    if backend == "tensorflow":
        shutil.copytree(source, tmp)
    else:
        write_edge_version(source, tmp)
    if backend == "tensorflow":
        write_warmup_file(tmp)
    target = base / str(version)
    os.rename(tmp, target)
    return target


def write_warmup_file(version_dir: Path) -> None:
    """TF Serving's warm-up file, as the Pusher writes it."""
    from components.pusher.warmup import write_warmup_requests

    write_warmup_requests(version_dir, model_name="digits")


def sample_images(n: int):
    import numpy as np

    return np.random.default_rng(1).integers(0, 17, (n, 8, 8)).astype(np.float32)


# ----- in-process rates --------------------------------------------------------------------
def _rate(call, batch: int, duration: float) -> float:
    """Examples/s of ``call(x)`` on a batch of ``batch`` images, after 20 calls unmeasured."""
    x = sample_images(batch)
    for _ in range(20):
        call(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < duration:
        call(x)
        n += 1
    return n * batch / (time.perf_counter() - start)


def model_call(version_dir: Path, backend: str):
    """The model called through its own runtime's public API, as a program embedding it
    would (the reference of the target): the SavedModel's ``serving_default`` signature, an
    ONNX Runtime session with default options, a LiteRT signature runner."""
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
        return lambda x: fn(image=tf.constant(x))
    if backend == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(version_dir / "model.onnx"),
                                       providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(version_dir / "model_float32.tflite"))
    runner = interp.get_signature_runner()
    key = next(iter(runner.get_input_details()))

    def call(x):
        if x.shape[0] == 1:
            return runner(**{key: x})
        return [runner(**{key: x[i:i + 1]}) for i in range(x.shape[0])]

    return call


def in_process_rates(version_dir: Path, backend: str, seconds: float) -> dict[str, float]:
    """Batch-1 calls/s and the best batched examples/s (batches 16..256) of the model in
    this process: through its own runtime's API, and through the server's backend code."""
    from serving.backends import load_servable

    own = model_call(version_dir, backend)
    out = {"batch1_calls_s": _rate(own, 1, seconds)}
    best, best_batch = 0.0, 0
    for batch in (16, 64, 256):
        r = _rate(own, batch, seconds / 3)
        if r > best:
            best, best_batch = r, batch
    out.update(batched_examples_s=best, best_batch=best_batch)
    servable = load_servable(version_dir, backend)
    sig = next(iter(servable.signatures)) if backend != "tensorflow" else "serving_default"
    name = next(iter(servable.signature(sig).inputs))
    out["backend_batch1_calls_s"] = _rate(lambda x: servable.run(sig, {name: x}), 1, seconds)
    servable.close()
    return out


# ----- the server ----------------------------------------------------------------------------
class Server:
    """``dlpipe serve`` in a subprocess, with its CPU time read from /proc."""

    def __init__(self, base: Path, backend: str, batching: bool, workers: int | None,
                 extra: list[str], root: Path, warmup: bool = True,
                 batch_timeout_us: int = 2000, allowed: tuple[int, ...] = (),
                 batch_threads: int = 1) -> None:
        from serving import config as config_lib

        self.grpc_port, self.rest_port = free_port(), free_port()
        flags = [f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}",
                 "--model_name=digits", f"--model_base_path={base}", "--log_level=WARNING",
                 f"--backend={backend}", "--file_system_poll_wait_seconds=0.2",
                 f"--enable_model_warmup={'true' if warmup else 'false'}"]
        if workers is not None:
            flags.append(f"--num_workers={workers}")
        if batching:
            params = config_lib.write_batching_parameters(
                root / "batching.pbtxt",
                config_lib.BatchingOptions(max_batch_size=64,
                                           batch_timeout_micros=batch_timeout_us,
                                           max_enqueued_batches=64,
                                           num_batch_threads=batch_threads,
                                           allowed_batch_sizes=allowed))
            flags += ["--enable_batching", f"--batching_parameters_file={params}"]
        self.flags = flags + extra
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dlpipe")), "serve", *self.flags],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "REST on" not in line:
            self.proc.kill()
            raise SystemExit(f"dlpipe serve did not start: {line!r}")

    def pids(self) -> list[int]:
        pids = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def cpu_seconds(self) -> float:
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.rest_port}/monitoring/prometheus/metrics"
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read().decode()

    def predict_counts(self, protocol: str) -> tuple[float, float]:
        """(OK, not OK) predict answers so far over ``protocol``, all workers."""
        ok = bad = 0.0
        text = self.metrics()
        for m in re.finditer(r'^dlpipe_serving_requests_total\{([^}]*)\} (\S+)$', text, re.M):
            if 'api="predict"' in m[1] and f'protocol="{protocol}"' in m[1]:
                ok += float(m[2])
        for m in re.finditer(r'^dlpipe_serving_request_errors_total\{([^}]*)\} (\S+)$', text,
                             re.M):
            if 'api="predict"' in m[1] and f'protocol="{protocol}"' in m[1]:
                bad += float(m[2])
        return ok - bad, bad

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ----- load generators -----------------------------------------------------------------------
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, "
    .. "\\"write\\": %%d, \\"status\\": %%d, \\"timeout\\": %%d, \\"p50_us\\": %%d, "
    .. "\\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(server: Server, connections: int, seconds: float, workdir: Path) -> dict:
    body = json.dumps({"instances": sample_images(1).tolist()})
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT % lua_string(body))
    url = f"http://127.0.0.1:{server.rest_port}{REST_PATH}"
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
                          "-s", str(script), url], capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    seconds_run = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {"req_s": (r["requests"] - r["status"]) / seconds_run, "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "errors": errors, "seconds": seconds_run}


def grpc_body() -> bytes:
    from tensorflow_serving.apis import predict_pb2

    from serving import tensors

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["image"].CopyFrom(tensors.make_tensor_proto(sample_images(1)))
    data = request.SerializeToString()
    return b"\x00" + struct.pack(">I", len(data)) + data  # gRPC's length-prefixed message


def run_h2load(server: Server, connections: int, seconds: float, workdir: Path) -> dict:
    import numpy as np

    body = workdir / "predict.grpc"
    body.write_bytes(grpc_body())
    log = workdir / "h2load.log"
    ok_before, bad_before = server.predict_counts("grpc")
    out = subprocess.run(
        ["h2load", "-t1", f"-c{connections}", "-m1", f"-D{seconds:g}", "-d", str(body),
         "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"--log-file={log}", f"http://127.0.0.1:{server.grpc_port}{GRPC_PATH}"],
        capture_output=True, text=True, check=True).stdout
    ok_after, bad_after = server.predict_counts("grpc")
    finished = re.search(r"finished in ([\d.]+)s", out)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    if not finished or not counts:
        raise SystemExit(f"Cannot read h2load's output:\n{out}")
    seconds_run = float(finished[1])
    failed = int(counts[5]) + int(counts[6]) + int(counts[7])
    rows = [ln.split("\t") for ln in log.read_text().splitlines() if ln.strip()]
    lat = np.array([int(r[2]) for r in rows if r[1] == "200"], dtype=float) / 1000
    answered_ok = ok_after - ok_before
    grpc_errors = bad_after - bad_before  # HTTP 200 with grpc-status != 0
    return {"req_s": answered_ok / seconds_run,
            "p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
            "errors": int(failed + grpc_errors), "seconds": seconds_run}


def measure(server: Server, api: str, connections: int, seconds: float, warm: float,
            workdir: Path) -> dict:
    run = run_wrk if api == "REST" else run_h2load
    if warm > 0:
        run(server, connections, warm, workdir)
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    r = run(server, connections, seconds, workdir)
    r["server_cpu"] = (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
    return r


# ----- hot swap: the first request to a new version ------------------------------------------
def first_request_after_swap(root: Path, export_dir: Path, backend: str, warmup: bool,
                             samples: int = 200) -> tuple[float, float]:
    """(first request to a freshly loaded version, median of the following ones), in ms."""
    base = root / f"swap_{'warm' if warmup else 'cold'}"
    base.mkdir()
    publish(base, 1, export_dir, backend, root)
    # One worker, batching off: the latencies are the model's and the server's, not a batch
    # window's, and the first request is that worker's first.
    server = Server(base, backend, batching=False, workers=1, extra=[], root=root,
                    warmup=warmup)
    try:
        body = json.dumps({"instances": sample_images(1).tolist()})
        conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)

        def call(path: str) -> float:
            start = time.perf_counter()
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise SystemExit(f"{path}: HTTP {resp.status}")
            return (time.perf_counter() - start) * 1000

        for _ in range(50):
            call(REST_PATH)
        publish(base, 2, export_dir, backend, root)
        status = "/v1/models/digits/versions/2"
        for _ in range(600):
            conn.request("GET", status)
            resp = conn.getresponse()
            text = resp.read().decode()
            if resp.status == 200 and '"AVAILABLE"' in text:
                break
            time.sleep(0.05)
        else:
            raise SystemExit("version 2 never became AVAILABLE")
        first = call("/v1/models/digits/versions/2:predict")
        rest = [call("/v1/models/digits/versions/2:predict") for _ in range(samples)]
        conn.close()
        return first, statistics.median(rest)
    finally:
        server.stop()


# ----- main ------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow", choices=("tensorflow", "onnx",
                                                                     "tflite"))
    parser.add_argument("--connections", default="8,16,32,64",
                        help="Comma-separated connection counts.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured time per run.")
    parser.add_argument("--warm", type=float, default=2.0, help="Unmeasured run before each.")
    parser.add_argument("--num_workers", type=int, default=None,
                        help="Passed to dlpipe serve (default: its own default).")
    parser.add_argument("--no-grpcio", action="store_true",
                        help="Skip the comparison row of grpcio's gRPC server "
                             "(--grpc_implementation=grpcio).")
    parser.add_argument("--no-batching", action="store_true",
                        help="Also run without server-side batching (64 connections).")
    parser.add_argument("--no-warmup-check", action="store_true",
                        help="Skip the hot-swap first-request check.")
    parser.add_argument("--server-flag", action="append", default=[],
                        help="Extra dlpipe serve flag (repeatable).")
    parser.add_argument("--batch-timeout-us", type=int, default=2000,
                        help="batch_timeout_micros of the batching parameters.")
    parser.add_argument("--batch-threads", type=int, default=1,
                        help="num_batch_threads of the batching parameters (per worker).")
    parser.add_argument("--allowed-batch-sizes", default="",
                        help="allowed_batch_sizes, comma-separated (ending with 64).")
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    ensure_tools()

    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        root = Path(tmp)
        export_dir = export_model(root)
        base = root / "digits"
        base.mkdir()
        version_dir = publish(base, 1, export_dir, args.backend, root)
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores; "
              f"load average before: {os.getloadavg()[0]:.2f}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(f"backend: {args.backend}; wrk -t1 (REST), h2load -t1 -m1 (gRPC); "
              f"{args.seconds:g} s per run after {args.warm:g} s unmeasured")
        tf_rates = in_process_rates(export_dir, "tensorflow", seconds=3.0)
        b1 = tf_rates["batch1_calls_s"]
        batched = tf_rates["batched_examples_s"]
        for backend, rates in [("tensorflow", tf_rates)] + (
                [] if args.backend == "tensorflow"
                else [(args.backend, in_process_rates(version_dir, args.backend, 3.0))]):
            print(f"in-process, {backend}, the model through its runtime's API: batch-1 "
                  f"{rates['batch1_calls_s']:,.0f} calls/s; batched "
                  f"{rates['batched_examples_s']:,.0f} examples/s (batch {rates['best_batch']})"
                  f"; through the server's backend code: batch-1 "
                  f"{rates['backend_batch1_calls_s']:,.0f} calls/s")
        print("x batch-1 / x batched: the server's req/s over the TensorFlow SavedModel's "
              "in-process rates above (the target's reference, whatever the backend)")

        rows = []
        # (batching, gRPC implementation, APIs, connections)
        configs = [(True, "dlpipe", ("REST", "gRPC"), connections)]
        if not args.no_grpcio:
            configs.append((True, "grpcio", ("gRPC",), [max(connections)]))
        if args.no_batching:
            configs.append((False, "dlpipe", ("REST", "gRPC"), [max(connections)]))
        header = (f"{'API':11} {'batching':8} {'conns':>5} {'req/s':>8} {'x batch-1':>9} "
                  f"{'x batched':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
                  f"{'server CPU':>10}")
        print(header)
        for batching, implementation, apis, conns in configs:
            allowed = tuple(int(x) for x in args.allowed_batch_sizes.split(",") if x)
            server = Server(base, args.backend, batching, args.num_workers,
                            args.server_flag + [f"--grpc_implementation={implementation}"],
                            root, batch_timeout_us=args.batch_timeout_us, allowed=allowed,
                            batch_threads=args.batch_threads)
            try:
                for api in apis:
                    label = api if implementation == "dlpipe" else f"{api}/{implementation}"
                    for c in conns:
                        r = measure(server, api, c, args.seconds, args.warm, root)
                        r.update(api=label, batching=batching, connections=c)
                        rows.append(r)
                        print(f"{label:11} {'on' if batching else 'off':8} {c:5d} "
                              f"{r['req_s']:8,.0f} {r['req_s'] / b1:8.2f}x "
                              f"{r['req_s'] / batched:8.3f}x "
                              f"{r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['errors']:6d} "
                              f"{r['server_cpu']:8.2f} c", flush=True)
            finally:
                server.stop()
        print(f"load average after: {os.getloadavg()[0]:.2f}")

        verdicts = []
        top = max(connections)
        for api in ("REST", "gRPC"):
            r = next(x for x in rows if x["api"] == api and x["batching"]
                     and x["connections"] == top)
            ok = r["req_s"] >= 2 * b1 and r["p99_ms"] <= 50 and r["errors"] == 0
            verdicts.append(ok)
            print(f"target {api}, {top} connections: >= 2x batch-1 ({2 * b1:,.0f} req/s), "
                  f"p99 <= 50 ms, no errors: {'PASS' if ok else 'MISS'} "
                  f"({r['req_s'] / b1:.2f}x, p99 {r['p99_ms']:.1f} ms, {r['errors']} errors)")
            series = [x["req_s"] for x in rows if x["api"] == api and x["batching"]]
            grows = all(b >= a * 0.97 for a, b in zip(series, series[1:], strict=False))
            print(f"target {api}: throughput grows with connections "
                  f"{'PASS' if grows else 'MISS'} ({' -> '.join(f'{s:,.0f}' for s in series)})")

        if not args.no_warmup_check:
            for warmup in (True, False):
                first, median = first_request_after_swap(root, export_dir, args.backend,
                                                         warmup)
                print(f"hot swap, --enable_model_warmup={str(warmup).lower()}: first request "
                      f"to the new version {first:.2f} ms, median after {median:.2f} ms "
                      f"({first / median:.1f}x; target <= 3x with warm-up: "
                      f"{'PASS' if first <= 3 * median else 'MISS'})"
                      if warmup else
                      f"hot swap, --enable_model_warmup=false: first request {first:.2f} ms, "
                      f"median after {median:.2f} ms ({first / median:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
