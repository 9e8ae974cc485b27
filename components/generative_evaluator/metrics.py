"""Generative metrics from summed statistics, the blessing thresholds, the metrics file.

No TensorFlow here: the Beam pipeline (``executor.py``) sums per-example statistics; this
module turns the sums into metrics, checks them against ``Thresholds`` and reads and writes
``METRICS_FILE`` (what ``dlpipe run``'s summary and the run report show).

VAE (eval split; pixels in [0, 1]; the mean image is the train split's, from Transform):
  reconstruction_error  mean squared error of the reconstruction (decoded from z_mean)
  mean_image_error      the same error when every reconstruction is the mean image
  reconstruction_ratio  reconstruction_error / mean_image_error
  neg_elbo              negative ELBO, nats per image (a bound on the VAE's NLL)
  mean_image_nll        NLL of independent Bernoulli pixels with the mean image as
                        probabilities: the baseline the negative ELBO must beat
  kl                    the ELBO's KL term, nats per image
GAN (``num_samples`` generated images, scored by the digits classifier):
  mean_confidence       mean top-class probability the classifier gives a sample
  class_coverage        fraction of classes that are the top class of at least half their
                        uniform share of the samples (1.0: no class is missing)
  frechet_distance      Fréchet distance between Gaussians fitted to the classifier's
                        output probabilities on the samples and on the eval images
  real_confidence, real_class_coverage: the same figures for the eval images (reference)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

METRICS_FILE = "generative_metrics.json"
"""Written into the ``evaluation`` artifact's directory."""
STATS_FILE = "stats.json"
"""The Beam pipeline's summed statistics (also in the ``evaluation`` directory)."""

CANDIDATE = "candidate"
BASELINE = "baseline"
"""The latest blessed model (the resolver's), evaluated on the same data or noise."""
REAL = "real"
"""The eval split's images, scored by the classifier (GAN)."""

COVERAGE_SHARE = 0.5
"""A class is covered when it is the top class of >= this x (1 / classes) of the samples."""

VAE_METRICS = ("reconstruction_error", "mean_image_error", "reconstruction_ratio",
               "neg_elbo", "mean_image_nll", "kl")
GAN_METRICS = ("mean_confidence", "class_coverage", "frechet_distance", "real_confidence",
               "real_class_coverage")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """What a generative model must reach to be blessed (``evaluate.*`` in the config).

    Attributes:
      max_reconstruction_ratio: VAE: reconstruction_error <= this x mean_image_error.
      max_elbo_ratio: VAE: neg_elbo <= this x mean_image_nll.
      max_regression: The headline metrics may be at most this fraction worse than the
        latest blessed model's (VAE: reconstruction error; GAN: mean confidence and class
        coverage).
      min_confidence: GAN: mean_confidence >= this.
      min_class_coverage: GAN: class_coverage >= this.
      max_frechet_distance: GAN: frechet_distance <= this (0: reported, not checked).
    """

    max_reconstruction_ratio: float = 0.6
    max_elbo_ratio: float = 1.0
    max_regression: float = 0.1
    min_confidence: float = 0.7
    min_class_coverage: float = 0.5
    max_frechet_distance: float = 0.0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Thresholds:
        data = json.loads(text) if text else {}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown thresholds {unknown}; expected some of {sorted(known)}.")
        return cls(**data)


@dataclasses.dataclass
class Check:
    """One threshold applied to one metric."""

    metric: str
    value: float
    op: str  # "<=" or ">="
    limit: float
    basis: str  # where the limit comes from

    @property
    def ok(self) -> bool:
        if not np.isfinite(self.value):
            return False
        return self.value <= self.limit if self.op == "<=" else self.value >= self.limit

    def describe(self) -> str:
        return (f"{self.metric} = {self.value:.4f}, required {self.op} {self.limit:.4f} "
                f"({self.basis})")


def _mean(stats: dict[str, Any], group: str, name: str) -> float:
    count = float(stats.get(f"{group}/count", 0))
    return float(stats[f"{group}/{name}"]) / count if count else float("nan")


def vae_metrics(stats: dict[str, Any], group: str = CANDIDATE) -> dict[str, float] | None:
    """Mean per-example metrics of one model from the summed ``evaluate`` outputs."""
    if not stats.get(f"{group}/count"):
        return None
    out = {name: _mean(stats, group, name) for name in
           ("reconstruction_error", "mean_image_error", "neg_elbo", "mean_image_nll", "kl")}
    out["reconstruction_ratio"] = (out["reconstruction_error"] / out["mean_image_error"]
                                   if out["mean_image_error"] else float("nan"))
    return out


def class_scores(stats: dict[str, Any], group: str) -> dict[str, Any] | None:
    """Confidence, class shares and coverage of one group of classified images."""
    count = float(stats.get(f"{group}/count", 0))
    if not count:
        return None
    counts = np.asarray(stats[f"{group}/class_counts"], dtype=np.float64)
    shares = counts / count
    covered = int(np.sum(shares >= COVERAGE_SHARE / len(shares)))
    return {
        "count": int(count),
        "mean_confidence": float(stats[f"{group}/confidence"]) / count,
        "class_shares": [float(s) for s in shares],
        "classes_covered": covered,
        "class_coverage": covered / len(shares),
    }


def gaussian(stats: dict[str, Any], group: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the classifier's outputs from their sums and outer products."""
    count = float(stats[f"{group}/count"])
    mean = np.asarray(stats[f"{group}/prob_sum"], dtype=np.float64) / count
    second = np.asarray(stats[f"{group}/prob_outer"], dtype=np.float64) / count
    return mean, second - np.outer(mean, mean)


def frechet_distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
                     ) -> float:
    """Fréchet distance between two Gaussians ``(mean, covariance)`` (as in FID)."""
    from scipy import linalg

    (mu1, s1), (mu2, s2) = a, b
    root, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.all(np.isfinite(root)):  # near-singular product: regularize, as FID does
        eps = np.eye(len(mu1)) * 1e-6
        root = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(root)))


def gan_metrics(stats: dict[str, Any], group: str = CANDIDATE) -> dict[str, Any] | None:
    """A generator's sample scores, with the eval images' as reference."""
    samples = class_scores(stats, group)
    real = class_scores(stats, REAL)
    if samples is None:
        return None
    out = {
        "mean_confidence": samples["mean_confidence"],
        "class_coverage": samples["class_coverage"],
        "classes_covered": samples["classes_covered"],
        "class_shares": samples["class_shares"],
        "sample_count": samples["count"],
    }
    if real is not None:
        out["real_confidence"] = real["mean_confidence"]
        out["real_class_coverage"] = real["class_coverage"]
        out["frechet_distance"] = frechet_distance(gaussian(stats, group),
                                                   gaussian(stats, REAL))
    return out


def vae_checks(candidate: dict[str, float], baseline: dict[str, float] | None,
               t: Thresholds) -> list[Check]:
    """The VAE's thresholds: beat the mean image, and not regress from the blessed model."""
    checks = [
        Check("reconstruction_error", candidate["reconstruction_error"], "<=",
              t.max_reconstruction_ratio * candidate["mean_image_error"],
              f"{t.max_reconstruction_ratio:g} x mean-image error "
              f"{candidate['mean_image_error']:.4f}"),
        Check("neg_elbo", candidate["neg_elbo"], "<=",
              t.max_elbo_ratio * candidate["mean_image_nll"],
              f"{t.max_elbo_ratio:g} x mean-image NLL {candidate['mean_image_nll']:.4f}"),
    ]
    if baseline is not None:
        value = baseline["reconstruction_error"]
        checks.append(Check(
            "reconstruction_error", candidate["reconstruction_error"], "<=",
            (1 + t.max_regression) * value,
            f"at most {100 * t.max_regression:g}% above the latest blessed model's {value:.4f}"))
    return checks


def gan_checks(candidate: dict[str, Any], baseline: dict[str, Any] | None,
               t: Thresholds) -> list[Check]:
    """The GAN's thresholds: confident, covering samples; not worse than the blessed model."""
    checks = [
        Check("mean_confidence", candidate["mean_confidence"], ">=", t.min_confidence,
              "evaluate.min_confidence"),
        Check("class_coverage", candidate["class_coverage"], ">=", t.min_class_coverage,
              "evaluate.min_class_coverage"),
    ]
    if t.max_frechet_distance > 0:
        checks.append(Check("frechet_distance", candidate.get("frechet_distance", float("nan")),
                            "<=", t.max_frechet_distance, "evaluate.max_frechet_distance"))
    if baseline is not None:
        for name in ("mean_confidence", "class_coverage"):
            value = baseline[name]
            checks.append(Check(
                name, candidate[name], ">=", (1 - t.max_regression) * value,
                f"at most {100 * t.max_regression:g}% below the latest blessed model's "
                f"{value:.4f}"))
    return checks


def evaluate_stats(kind: str, stats: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Metrics, checks and the verdict from the Beam pipeline's summed statistics.

    Returns:
      The content of ``METRICS_FILE``: ``kind``, ``metrics`` (the candidate's),
      ``baseline_metrics`` (the latest blessed model's, or None), ``diff`` (candidate minus
      baseline), ``checks``, ``blessed`` and ``reason``.
    """
    compute = vae_metrics if kind == "vae" else gan_metrics
    candidate = compute(stats, CANDIDATE)
    if candidate is None:
        return {"kind": kind, "metrics": {}, "baseline_metrics": None, "diff": {},
                "checks": [], "blessed": False,
                "reason": "no examples or samples were evaluated"}
    baseline = compute(stats, BASELINE)
    checks = (vae_checks if kind == "vae" else gan_checks)(candidate, baseline, thresholds)
    if kind == "vae":
        candidate = {"example_count": int(stats[f"{CANDIDATE}/count"]), **candidate}
    failed = [c for c in checks if not c.ok]
    names = VAE_METRICS if kind == "vae" else GAN_METRICS
    diff = {} if baseline is None else {
        n: candidate[n] - baseline[n] for n in names if n in candidate and n in baseline}
    return {
        "kind": kind,
        "metrics": candidate,
        "baseline_metrics": baseline,
        "diff": diff,
        "checks": [dict(dataclasses.asdict(c), ok=c.ok) for c in checks],
        "blessed": not failed,
        "reason": "; ".join(c.describe() for c in failed) or "all thresholds passed",
    }


def read_metrics(evaluation_uri: str | Path) -> dict[str, Any] | None:
    """The metrics file of an ``evaluation`` artifact, or None (e.g. TFMA's evaluation)."""
    path = Path(evaluation_uri) / METRICS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def headline(data: dict[str, Any]) -> dict[str, float]:
    """The scalar metrics worth a line of the run summary, in display order."""
    metrics = data.get("metrics") or {}
    if data.get("kind") == "vae":
        names = ("example_count", *VAE_METRICS)
    else:
        names = ("sample_count", "classes_covered", *GAN_METRICS)
    return {n: metrics[n] for n in names if n in metrics}
