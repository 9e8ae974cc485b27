"""Edge benchmark (not a test): the digits CNN in every edge format.

Prints format x {size, batch-1 p50 latency, speedup over the TF SavedModel call measured in
the same run, accuracy on held-out digits} and checks the issue's targets: TFLite float32
>= 10x faster than the SavedModel, ONNX Runtime >= 3x, int8 file <= 0.3x the float32 file,
int8 accuracy within 1 point.

``--side 28`` trains the same builder on the digits resized to 28x28 (bilinear, grey levels
still 0..16): the MNIST-sized CNN of ~106k parameters, where the int8 target applies; at 8x8
(~14k parameters) fixed per-file bytes (graph, names, quantization parameters, the TFLite
metadata) keep the int8 file above 0.3x, which the size line explains.

Usage: .venv/bin/python bench/edge.py [--side 8|28] [--epochs 20] [--latency-runs 2000]
    [--output DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NUM_TRAIN = 1400
PIXEL_MAX = 16.0  # scikit-learn's digits are grey levels 0..16


def digits(side: int) -> tuple:
    """scikit-learn's digits as ``[N, side, side, 1]`` grey levels 0..16, and their labels."""
    import numpy as np
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.images[..., None].astype(np.float32)
    if side != 8:
        import tensorflow as tf

        x = tf.image.resize(x, [side, side]).numpy()
    return x, data.target


def train_digits_cnn(export_dir: Path, epochs: int, side: int = 8) -> int:
    """Trains the repo's CNN on scikit-learn's digits and saves it with its edge signatures;
    returns its parameter count."""
    import keras

    from models import edge
    from models.cnn import build_cnn

    x, y = digits(side)
    keras.utils.set_random_seed(7)
    model = build_cnn((side, side, 1), 10)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x[:NUM_TRAIN] / PIXEL_MAX,
        y[:NUM_TRAIN],
        epochs=epochs,
        batch_size=32,
        verbose=0,
    )
    spec = edge.EdgeSpec(
        input_name="image",
        input_shape=(side, side, 1),
        labels=tuple(str(d) for d in range(10)),
        input_range=(0.0, PIXEL_MAX),
        normalization="raw grey levels 0..16; divided by 16 inside the graph",
        output_meaning="softmax probability of each digit, in labels.txt order",
    )
    edge.export_with_edge_signatures(
        export_dir, model, spec, preprocess=lambda x: x / PIXEL_MAX
    )
    return model.count_params()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8, choices=(8, 28),
                        help="Image side: 8 (the digits as they are) or 28 (MNIST-sized).")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--latency-runs", type=int, default=2000)
    parser.add_argument("--output", help="Keep the files here (default: a temp dir).")
    args = parser.parse_args()

    from components.edge_export import formats, tflite_ops
    from components.edge_export.data import Dataset
    from components.edge_export.export import export_edge

    work = Path(args.output or tempfile.mkdtemp(prefix="edge_bench_"))
    saved = work / "saved_model"
    params = train_digits_cnn(saved, args.epochs, args.side)
    x, y = digits(args.side)
    report = export_edge(
        saved,
        work / "edge",
        formats.ExportOptions(latency_runs=args.latency_runs),
        representative=Dataset(x[:NUM_TRAIN]),
        eval_data=Dataset(x[NUM_TRAIN:], y[NUM_TRAIN:]),
    )
    ref = report.reference
    print(
        f"Edge benchmark: {args.side}x{args.side} digits CNN ({params} parameters), "
        f"{platform.platform()}, {os.cpu_count()} cores, "
        f"{report.num_eval_examples} held-out digits, {args.latency_runs} batch-1 calls"
    )
    print(f"{'format':<15}{'size KB':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs TF':>8}{'accuracy':>10}")
    print(
        f"{'TF SavedModel':<15}{'-':>9}{ref['latency_p50_ms']:>9.3f}"
        f"{ref['latency_p99_ms']:>9.3f}{'1.0x':>8}{ref['accuracy']:>10.4f}"
    )
    for r in report.formats:
        if r.error:
            print(f"{r.format:<15} error: {r.error}")
            continue
        print(
            f"{r.format:<15}{r.size_bytes / 1024:>9.1f}{r.latency_p50_ms:>9.3f}"
            f"{r.latency_p99_ms:>9.3f}{r.speedup_p50:>7.1f}x{r.accuracy:>10.4f}"
        )

    f32, i8, onnx = (report.result(f) for f in ("float32", "int8", "onnx"))
    targets = [
        ("TFLite float32 >= 10x faster than SavedModel", f32.speedup_p50, f32.speedup_p50 >= 10),
        ("ONNX Runtime >= 3x faster than SavedModel", onnx.speedup_p50, onnx.speedup_p50 >= 3),
        (
            "int8 file <= 0.3x float32 file",
            i8.size_bytes / f32.size_bytes,
            i8.size_bytes <= 0.3 * f32.size_bytes,
        ),
        ("int8 accuracy within 1 point", 100 * i8.accuracy_drop, i8.accuracy_drop <= 0.01),
    ]
    weights = {
        fmt: tflite_ops.buffer_bytes((work / "edge" / formats.FILE_NAMES[fmt]).read_bytes())
        for fmt in ("float32", "int8")
    }
    print(
        f"Constant buffers (weights): float32 {weights['float32']} B, int8 {weights['int8']} B "
        f"({weights['int8'] / weights['float32']:.2f}x); the rest of each file is graph, "
        "tensor names and quantization parameters."
    )
    print("Targets:")
    for name, value, ok in targets:
        print(f"  {'PASS' if ok else 'MISS'}  {name}: {value:.2f}")
    print(f"Files: {work / 'edge'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
