"""Benchmark: how the Beam components' time and memory grow with the data, per Beam runner.

Generated data of two shapes, at several sizes:
- ``mnist``: 28x28 grey images (0..255, 10 classes: a class template plus noise), written as
  gzipped tf.Example TFRecords in 8 shards (``ingest.kind: tfrecord``);
- ``wide``: a wide table, 150 numeric and 10 categorical columns and a 3-class label, as 8
  CSV files (``ingest.kind: csv``).
Each size goes through ``dlpipe run`` (a new process, as a user runs it) on each runner mode:
``in_memory`` (DirectRunner in one process), ``multi_processing`` (DirectRunner, one worker
process per core) and ``portable`` (Beam's local job service and ``dlpipe beam-worker-pool``,
started here). The model is tiny and trains 20 steps; infra validation and edge export are
off: the figures are ExampleGen, StatisticsGen, Transform and Evaluator. Then the same output
root is run again with nothing changed, to time the input check on a re-run.

Printed per data set, size and mode: each component's seconds, examples/s and the peak RSS
of the run's processes while it ran (the ``dlpipe run`` process and its children, and the
worker pool's processes for ``portable``; sampled every 0.2 s), the input check's time on the
first run and on the re-run, and the targets:
- per-example cost of each component within 1.5x from the smallest to the largest size;
- peak memory of the streaming components (ExampleGen, StatisticsGen, Evaluator) within
  1.5x from the smallest to the largest size;
- multi_processing at least 1.6x the in_memory throughput at the largest size (2 cores).

Usage: .venv/bin/python bench/scale.py [--sizes 10000,50000,200000]
         [--modes in_memory,multi_processing,portable] [--data mnist,wide]
         [--work-dir DIR (keeps the generated data between invocations)] [--json FILE]
         [--resume (with --json: run only what it lacks)]
Progress goes to stderr as it happens; the tables go to stdout at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

COMPONENTS = ("ImportExampleGen", "CsvExampleGen", "StatisticsGen", "Transform", "Evaluator")
STREAMING = ("ExampleGen", "StatisticsGen", "Evaluator")
SHARDS = 8
START = re.compile(r"^\[\s*\d+/\d+\] (\S+) \.\.\.$")
END = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+(executed|cached|skipped|failed)\s+([\d.]+) s$")
TRAIN_BUCKETS, EVAL_BUCKETS = 4, 1


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Data ----------------------------------------------------------------------------------

def write_mnist(out: Path, n: int) -> None:
    """``n`` 28x28 grey images in ``SHARDS`` gzipped TFRecord files."""
    import numpy as np

    from dlpipe.examples import image_example, write_records

    rng = np.random.default_rng(0)
    templates = rng.uniform(0, 255, (10, 28, 28)).astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    per_shard = -(-n // SHARDS)
    for shard in range(SHARDS):
        count = min(per_shard, n - shard * per_shard)
        labels = rng.integers(0, 10, count)
        noise = rng.normal(0, 40, (count, 28, 28)).astype(np.float32)
        images = np.clip(templates[labels] + noise, 0, 255).round()
        write_records(out / f"part-{shard:02d}.tfrecord.gz",
                      (image_example(img.reshape(-1), int(y))
                       for img, y in zip(images, labels, strict=True)))


def write_wide(out: Path, n: int, numeric: int = 150, categorical: int = 10) -> None:
    """``n`` rows of a wide table in ``SHARDS`` CSV files."""
    import numpy as np

    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    header = ([f"x{i:03d}" for i in range(numeric)] + [f"c{i:02d}" for i in range(categorical)]
              + ["label"])
    weights = rng.normal(0, 1, numeric)
    per_shard = -(-n // SHARDS)
    for shard in range(SHARDS):
        count = min(per_shard, n - shard * per_shard)
        x = rng.normal(0, 1, (count, numeric)).round(4)
        cats = rng.integers(0, 20, (count, categorical))
        score = x @ weights
        labels = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
        tmp = out / f".part-{shard:02d}.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for row, cat, label in zip(x, cats, labels, strict=True):
                writer.writerow([*row.tolist(), *(f"v{c}" for c in cat), f"k{label}"])
        tmp.rename(out / f"part-{shard:02d}.csv")


DATA = {
    "mnist": (write_mnist, [
        "name=scale_mnist", "task.kind=image_classification", "ingest.kind=tfrecord",
        "model.builder=cnn", "model.hparams={conv_filters: [8], dense_units: 16, "
        "kernel_size: 3, dropout: 0.0}"]),
    "wide": (write_wide, [
        "name=scale_wide", "task.kind=tabular_classification", "ingest.kind=csv",
        "model.builder=mlp", "model.hparams={hidden_units: [16], dropout: 0.0}"]),
}
COMMON = ["validate.schema_file=", "train.train_steps=20", "train.epochs=1",
          "train.eval_steps=2", "evaluate.min_accuracy=0", "evaluate.min_class_accuracy=0",
          "evaluate.max_accuracy_drop=1", "infra_validate.enabled=false", "edge.enabled=false",
          f"ingest.train_buckets={TRAIN_BUCKETS}", f"ingest.eval_buckets={EVAL_BUCKETS}"]


def data_dir(work: Path, data: str, n: int) -> Path:
    out = work / "data" / f"{data}-{n}"
    if not (out / ".complete").is_file():
        log(f"generating {data} x {n} in {out}")
        started = time.monotonic()
        DATA[data][0](out, n)
        (out / ".complete").write_text(str(n))
        log(f"  generated in {time.monotonic() - started:.0f} s")
    return out


# Memory ----------------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss(roots: list[int]) -> int:
    """Resident bytes of ``roots`` and all their descendants."""
    tree, total, todo, seen = _children(), 0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += tree.get(pid, [])
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


# One run ---------------------------------------------------------------------------------

def run(root: Path, overrides: list[str], extra_pids: list[int]) -> dict:
    """``dlpipe run`` with progress parsed as it comes and RSS sampled per component."""
    args = [sys.executable, "-m", "pipeline.cli", "run", "--set", f"output_root={root}"]
    for o in overrides:
        args += ["--set", o]
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO)
    current, peaks, seconds, lines = ["(start)"], {}, {}, []
    marks = {"start": started}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            rss = tree_rss([proc.pid, *extra_pids])
            peaks[current[0]] = max(peaks.get(current[0], 0), rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in proc.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        if line.startswith("Loading TFX"):
            marks["input_checked"] = time.monotonic()
        if m := START.match(line):
            current[0] = m.group(1)
        elif m := END.match(line):
            seconds[m.group(1)] = (m.group(2), float(m.group(3)))
            current[0] = "(between)"
    proc.wait()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        tail = "\n".join(lines[-30:])
        raise RuntimeError(f"dlpipe run failed ({proc.returncode}):\n{tail}")
    return {"seconds": seconds, "peak_rss": peaks,
            "input_check": marks.get("input_checked", started) - started,
            "wall": time.monotonic() - started}


def mode_overrides(mode: str, cluster) -> list[str]:
    if mode == "in_memory":
        return []
    if mode == "multi_processing":
        return ["beam.direct_running_mode=multi_processing",
                f"beam.direct_num_workers={os.cpu_count()}"]
    return cluster.overrides()


def bench_one(work: Path, data: str, n: int, mode: str) -> dict:
    from pipeline.beam.local import local_cluster

    source = data_dir(work, data, n)
    root = work / "runs" / f"{data}-{n}-{mode}"
    if root.exists():
        import shutil

        shutil.rmtree(root)
    overrides = [*DATA[data][1], *COMMON, f"ingest.path={source}"]
    with contextlib.ExitStack() as stack:
        cluster, extra = None, []
        if mode == "portable":
            cluster = stack.enter_context(local_cluster(work / "cluster" / f"{data}-{n}"))
            extra = _pool_pids(cluster)
        log(f"{data} x {n}, {mode}: cold run")
        try:
            first = run(root, [*overrides, *mode_overrides(mode, cluster)], extra)
            log(f"  {first['wall']:.0f} s; re-run with nothing changed")
            again = run(root, [*overrides, *mode_overrides(mode, cluster)], extra)
        except RuntimeError as e:  # reported in the table; the other runs go on
            log(f"  {e}")
            return {"data": data, "examples": n, "mode": mode,
                    "error": str(e).splitlines()[-1]}
    return {"data": data, "examples": n, "mode": mode, "cold": first,
            "rerun_input_check": again["input_check"], "rerun_wall": again["wall"]}


def _pool_pids(cluster) -> list[int]:
    """The worker pool's process (its workers are its children)."""
    pids = []
    for pid, cmd in _commands():
        if "beam-worker-pool" in cmd and str(cluster.work_dir) in cmd:
            pids.append(pid)
    return pids


def _commands():
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                yield int(entry.name), Path(entry.path, "cmdline").read_bytes().replace(
                    b"\0", b" ").decode()


# Report ----------------------------------------------------------------------------------

def component_examples(name: str, n: int) -> int:
    """Examples a component reads: ExampleGen, StatisticsGen and Transform read both splits
    (Transform analyzes the train split and transforms both), Evaluator the eval split."""
    if name == "Evaluator":
        return round(n * EVAL_BUCKETS / (TRAIN_BUCKETS + EVAL_BUCKETS))
    return n


def short(name: str) -> str:
    return "ExampleGen" if name.endswith("ExampleGen") else name


def report(results: list[dict]) -> list[str]:
    out = []
    for data in dict.fromkeys(r["data"] for r in results):
        rows = [r for r in results if r["data"] == data]
        out.append(f"\n{data}")
        out.append(f"{'examples':>9} {'mode':<17} {'component':<14} {'seconds':>8} "
                   f"{'examples/s':>11} {'peak RSS MB':>12}")
        for r in rows:
            if "error" in r:
                out.append(f"{r['examples']:>9} {r['mode']:<17} failed: {r['error']}")
                continue
            for name in COMPONENTS:
                if name not in r["cold"]["seconds"]:
                    continue
                _, secs = r["cold"]["seconds"][name]
                rate = component_examples(name, r["examples"]) / secs if secs else 0
                rss = r["cold"]["peak_rss"].get(name, 0) / 2**20
                out.append(f"{r['examples']:>9} {r['mode']:<17} {short(name):<14} "
                           f"{secs:>8.1f} {rate:>11.0f} {rss:>12.0f}")
            out.append(f"{r['examples']:>9} {r['mode']:<17} {'input check':<14} "
                       f"{r['cold']['input_check']:>8.1f} {'':>11} {'':>12}"
                       f"   (re-run: {r['rerun_input_check']:.1f} s)")
        out += targets(rows)
    return out


def targets(rows: list[dict]) -> list[str]:
    lines = []
    rows = [r for r in rows if "error" not in r]
    sizes = sorted({r["examples"] for r in rows})
    if len(sizes) < 2:
        return lines
    small, large = sizes[0], sizes[-1]
    lines.append(f"targets ({small} -> {large} examples):")
    for mode in dict.fromkeys(r["mode"] for r in rows):
        a = next((r for r in rows if r["mode"] == mode and r["examples"] == small), None)
        b = next((r for r in rows if r["mode"] == mode and r["examples"] == large), None)
        if not (a and b):
            continue
        for name in COMPONENTS:
            if name not in a["cold"]["seconds"] or name not in b["cold"]["seconds"]:
                continue
            cost_a = a["cold"]["seconds"][name][1] / component_examples(name, small)
            cost_b = b["cold"]["seconds"][name][1] / component_examples(name, large)
            growth = cost_b / cost_a
            line = (f"  {mode:<17} {short(name):<14} per-example cost x{growth:.2f} "
                    f"({'pass' if growth <= 1.5 else 'FAIL'} <= 1.5)")
            if short(name) in STREAMING:
                rss = b["cold"]["peak_rss"].get(name, 0) / max(a["cold"]["peak_rss"].get(
                    name, 1), 1)
                line += f"; peak RSS x{rss:.2f} ({'pass' if rss <= 1.5 else 'FAIL'} <= 1.5)"
            lines.append(line)
    mem = next((r for r in rows if r["mode"] == "in_memory" and r["examples"] == large), None)
    multi = next((r for r in rows if r["mode"] == "multi_processing"
                  and r["examples"] == large), None)
    if mem and multi:
        for name in COMPONENTS:
            if name in mem["cold"]["seconds"] and name in multi["cold"]["seconds"]:
                speedup = mem["cold"]["seconds"][name][1] / multi["cold"]["seconds"][name][1]
                lines.append(f"  multi_processing vs in_memory at {large}: {short(name):<14} "
                             f"x{speedup:.2f} ({'pass' if speedup >= 1.6 else 'FAIL'} >= 1.6)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--modes", default="in_memory,multi_processing,portable")
    parser.add_argument("--data", default="mnist,wide")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/dlpipe-bench-scale"))
    parser.add_argument("--json", type=Path, help="Also write every measurement here.")
    parser.add_argument("--resume", action="store_true",
                        help="With --json: keep its measurements, run only the missing ones.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes, datasets = args.modes.split(","), args.data.split(",")
    header = (f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}; date: {time.strftime('%Y-%m-%d %H:%M %Z')}"
              f"; load average at start: {os.getloadavg()[0]:.1f}")
    log(header)
    results = (json.loads(args.json.read_text())
               if args.resume and args.json and args.json.is_file() else [])
    done = {(r["data"], r["examples"], r["mode"]) for r in results if "error" not in r}
    results = [r for r in results if "error" not in r]
    for data in datasets:
        for n in sizes:
            for mode in modes:
                if (data, n, mode) in done:
                    continue
                results.append(bench_one(args.work_dir, data, n, mode))
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1))
    print(header)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print("\n".join(report(results)))


if __name__ == "__main__":
    main()
