"""The report's figures, drawn with matplotlib's Agg backend into small PNGs.

Each function takes report facts and returns an ``Image`` (PNG bytes and alt text), or
``None`` when there is nothing to draw.
"""

from __future__ import annotations

import dataclasses
import io
import math

from pipeline.report.facts import (
    ComponentTime,
    ConfusionMatrix,
    Curve,
    GeneratedSamples,
    Image,
    Regression,
    ReportFacts,
    Samples,
    SplitStats,
)

DPI = 100
SPLIT_STYLE = {"train": ("tab:blue", "o-"), "validation": ("tab:orange", "s--"),
               "eval": ("tab:orange", "s--")}


@dataclasses.dataclass
class Figures:
    """Every figure of a report; ``None`` where the run produced nothing to draw."""

    samples: Image | None = None
    labels: Image | None = None
    curves: Image | None = None
    timings: Image | None = None
    confusion: Image | None = None
    edge: Image | None = None
    generated: Image | None = None
    regression: Image | None = None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # never a display: reports are made on servers
    import matplotlib.pyplot as plt

    return plt


def _png(fig, alt: str, caption: str = "") -> Image:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return Image(buffer.getvalue(), alt, caption)


def _show(ax, image) -> None:
    """Draws a grey image as ink (dark on light) and an RGB one as itself, scaled to [0, 1]
    by its own range (raw pixels may be 0..16, 0..255 or floats)."""
    import numpy as np

    if image.ndim == 3 and image.shape[-1] == 3:
        low, high = float(image.min()), float(image.max())
        ax.imshow((image - low) / (high - low) if high > low else np.zeros_like(image),
                  interpolation="nearest")
    else:
        ax.imshow(image.reshape(image.shape[:2]), cmap="gray_r", interpolation="nearest")


def sample_grid(samples: Samples, columns: int = 8) -> Image | None:
    """A grid of sample images, each titled with its label."""
    if samples.kind != "images" or not samples.images:
        return None
    import numpy as np

    plt = _pyplot()
    height, width = samples.image_shape[:2]
    aspect = min(width / height, 3.0)  # wide images (spectrograms): fewer, wider cells
    if aspect > 1.5:
        columns = max(2, round(1.5 * columns / aspect))
    rows = math.ceil(len(samples.images) / columns)
    cell = max(1.0, aspect)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * cell, rows * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(samples.images):
            _show(ax, np.asarray(samples.images[i], np.float32).reshape(samples.image_shape))
            ax.set_title(f"label {samples.labels[i]}", fontsize=9)
    which = "First" if not samples.note else "Sample of"
    fig.suptitle(f"{which} {len(samples.images)} examples of the {samples.split} split",
                 fontsize=11)
    return _png(fig, f"Grid of {len(samples.images)} sample input images with their labels",
                "Sample inputs as stored (before Transform), titled with their labels.")


def generated_grid(generated: GeneratedSamples, columns: int = 8) -> Image | None:
    """A generative model's reconstructions or samples, each titled."""
    if not generated.images:
        return None
    import numpy as np

    plt = _pyplot()
    rows = math.ceil(len(generated.images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.0, rows * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(generated.images):
            _show(ax, np.asarray(generated.images[i], np.float32).reshape(
                generated.image_shape))
            ax.set_title(generated.labels[i], fontsize=8)
    what = "reconstructions" if generated.kind == "vae" else "samples"
    fig.suptitle(f"The trained model's {what}", fontsize=11, y=1.02)
    return _png(fig, f"Grid of {len(generated.images)} images: the model's {what}",
                generated.caption)


def label_distribution(splits: list[SplitStats]) -> Image | None:
    """Examples per label, one group of bars per split."""
    shown = [s for s in splits if s.label_counts]
    if not shown:
        return None
    plt = _pyplot()
    labels = list(dict.fromkeys(label for s in shown for label in s.label_counts))
    fig, ax = plt.subplots(figsize=(7, 2.8))
    width = 0.8 / len(shown)
    for k, split in enumerate(shown):
        xs = [i + (k - (len(shown) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, [split.label_counts.get(label, 0) for label in labels], width,
               label=split.split)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("label")
    ax.set_ylabel("examples")
    ax.set_title("Examples per label and split")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig, "Bar chart of examples per label in each split",
                "Labels counted in the examples ExampleGen wrote.")


def training_curves(curves: list[Curve]) -> Image | None:
    """One panel per metric (loss first), train and validation lines per epoch."""
    if not curves:
        return None
    plt = _pyplot()
    metrics = list(dict.fromkeys(c.metric for c in curves))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for curve in (c for c in curves if c.metric == metric):
            color, style = SPLIT_STYLE.get(curve.split, (None, "o-"))
            ax.plot(curve.epochs, curve.values, style, color=color, label=curve.split)
        ax.set_title(metric.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        epochs = sorted({e for c in curves for e in c.epochs})
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _png(fig, "Training curves: " + ", ".join(metrics) + " per epoch, train and validation",
                "Per-epoch values from the Trainer's TensorBoard logs (validation: "
                "the eval split, a few batches after each epoch).")


def component_times(timings: list[ComponentTime]) -> Image | None:
    """Horizontal bars: seconds per component execution, in start order."""
    if not timings:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 0.28 * len(timings) + 0.9))
    names = [t.node for t in timings][::-1]
    seconds = [t.seconds for t in timings][::-1]
    colors = [{"cached": "tab:gray", "failed": "tab:red"}.get(t.state, "tab:blue")
              for t in timings][::-1]
    ax.barh(names, seconds, color=colors)
    ax.set_xlabel("seconds")
    ax.set_title("Time per component")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig, "Bar chart of seconds spent per component",
                "Blue: executed, grey: cached, red: failed. From each execution's create and "
                "last-update times in ML Metadata.")


def confusion_matrix(confusion: ConfusionMatrix | None) -> Image | None:
    """A heatmap of counts, actual classes as rows, predicted as columns."""
    if confusion is None:
        return None
    import numpy as np

    plt = _pyplot()
    counts = np.asarray(confusion.counts)
    size = len(confusion.labels)
    fig, ax = plt.subplots(figsize=(0.36 * size + 1.9, 0.36 * size + 1.4))
    shown = ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(size), confusion.labels)
    ax.set_yticks(range(size), confusion.labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("actual class")
    ax.set_title(f"Confusion matrix ({int(confusion.total)} eval examples)")
    if size <= 20:
        top = counts.max() or 1
        for (i, j), n in np.ndenumerate(counts):
            if n:
                ax.text(j, i, f"{n:g}", ha="center", va="center", fontsize=8,
                        color="white" if n > top / 2 else "black")
    fig.colorbar(shown, ax=ax, label="examples", fraction=0.046, pad=0.04)
    return _png(fig, "Confusion matrix of actual against predicted classes",
                f"From {confusion.source}; the diagonal holds correct predictions.")


def regression_plots(points: Regression | None) -> Image | None:
    """Predicted against actual values (with the identity line), and the residuals."""
    if points is None or not points.actual:
        return None
    import numpy as np

    plt = _pyplot()
    actual, predicted = np.asarray(points.actual), np.asarray(points.predicted)
    residual = predicted - actual
    unit = f" ({points.unit})" if points.unit else ""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.6))
    left.scatter(actual, predicted, s=10, alpha=0.6)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(),
                                                                     predicted.max()))
    left.plot([low, high], [low, high], "k--", linewidth=1, label="predicted = actual")
    left.set_xlabel(f"actual {points.label}{unit}")
    left.set_ylabel(f"predicted{unit}")
    left.legend(loc="upper left", fontsize=8)
    left.set_title("Predicted against actual")
    right.hist(residual, bins=min(30, max(5, len(residual) // 5)), color="tab:orange")
    right.axvline(0.0, color="k", linestyle="--", linewidth=1)
    right.set_xlabel(f"residual: predicted - actual{unit}")
    right.set_ylabel("examples")
    right.set_title("Residuals")
    mae = float(np.mean(np.abs(residual)))
    return _png(fig, "Predicted against actual values and the residuals of the eval split",
                f"{len(actual)} labelled eval examples, predicted by the run's model "
                f"(its regress signature); mean absolute error {mae:.4g}{unit}.")


def edge_chart(edge_report: dict) -> Image | None:
    """Four panels per edge format: file size, p50 latency, max |diff|, accuracy."""
    formats = [f for f in edge_report.get("formats", []) if f.get("file")]
    if not formats:
        return None
    plt = _pyplot()
    names = [f["format"] for f in formats]
    colors = ["tab:green" if f.get("blessed") else "tab:red" for f in formats]
    panels = [
        ("size_bytes", "size (KB)", 1 / 1024, False),
        ("latency_p50_ms", "p50 latency, batch 1 (ms)", 1.0, False),
        ("max_abs_diff", "max |diff| vs SavedModel", 1.0, True),
        ("accuracy", "accuracy (eval split)", 1.0, False),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.0))
    for ax, (key, title, scale, log) in zip(axes, panels, strict=True):
        values = [(f.get(key) or 0.0) * scale for f in formats]
        ax.bar(names, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("format")
        ax.tick_params(axis="x", labelrotation=40, labelsize=8)
        if log and any(v > 0 for v in values):
            ax.set_yscale("log")
        if key == "accuracy":
            reference = edge_report.get("reference", {}).get("accuracy")
            low = min([v for v in values if v > 0] + [reference or 1.0])
            ax.set_ylim(max(0.0, low - 0.05), 1.0)
            if reference is not None:
                ax.axhline(reference, color="black", linestyle=":", label="SavedModel")
                ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _png(fig, "Bar charts of size, latency, parity and accuracy per edge format",
                "Green: the format passed its gate and was pushed; red: it did not. Dotted "
                "line: the SavedModel's accuracy.")


def all_figures(facts: ReportFacts) -> Figures:
    """Draws every figure the facts allow."""
    summary = facts.summary
    return Figures(
        samples=sample_grid(facts.samples) if facts.samples else None,
        labels=label_distribution(facts.splits),
        curves=training_curves(facts.curves),
        timings=component_times(facts.timings),
        confusion=confusion_matrix(facts.confusion),
        edge=edge_chart(summary.edge_report) if summary and summary.edge_report else None,
        generated=generated_grid(facts.generated) if facts.generated else None,
        regression=regression_plots(facts.regression),
    )
