"""Prometheus metrics of the embedded server (one registry per server instance).

TF Serving's own series, so dashboards made for it work unchanged:

* ``:tensorflow:serving:request_count_total`` (labels ``model_name``, ``status``);
* ``:tensorflow:serving:request_latency`` (µs, labels ``model_name``, ``API``, ``entrypoint``):
  every Predict, Classify, Regress and MultiInference request from decode to encoded
  answer; ``API`` is TF Serving's method name, ``entrypoint`` ``REST`` or ``GRPC``;
* ``:tensorflow:serving:runtime_latency`` (µs, labels ``model_name``, ``API``, ``runtime``):
  every model run (one merged batch when batching is on), warm-up runs included, as in TF
  Serving; ``runtime`` is the backend (``tensorflow``, ``onnx``, ``tflite``).

Both histograms use TF Serving's buckets (10 µs × 1.8^i, 33 buckets). The ``dlpipe_serving_*``
series add the version, the API (predict, classify, regress, multi_inference, metadata,
status) and the protocol (rest, grpc).

With several worker processes (``dlpipe serve --num_workers``) every worker writes its
values into a shared directory (prometheus_client's multiprocess mode) and the metrics page,
whichever worker answers it, adds them up.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
TF_SERVING_LATENCY_BUCKETS_US = tuple(10 * 1.8**i for i in range(33))
"""TF Serving's ``monitoring::Buckets::Exponential(10, 1.8, 33)``, in microseconds."""
CONTENT_TYPE = CONTENT_TYPE_LATEST
TF_API_NAMES = {"predict": "Predict", "classify": "Classify", "regress": "Regress",
                "multi_inference": "MultiInference"}
"""Our API labels -> TF Serving's ``API`` label (requests that run a model)."""
ENTRYPOINTS = {"rest": "REST", "grpc": "GRPC"}


def use_multiprocess_dir(path: Path) -> None:
    """Makes every metric created afterwards in this process write to ``path`` (shared by
    the worker processes), as prometheus_client's multiprocess mode does."""
    from prometheus_client import values

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values.ValueClass = values.MultiProcessValue()


def mark_process_dead(path: Path, pid: int) -> None:
    """Drops a finished worker's live gauges (its counters keep counting in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(path))


class ServerMetrics:
    """Counters and histograms a server updates per request.

    Args:
      multiprocess_dir: The directory every worker writes to (see
        :func:`use_multiprocess_dir`, called first); the exposition sums them.
    """

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self._series: dict[tuple, tuple] = {}
        # In multiprocess mode the values live in files; the registry only reads them.
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if multiprocess_dir else self.registry
        if multiprocess_dir:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry, path=str(multiprocess_dir))
        labels = ["model", "version", "api", "protocol"]
        self.tf_request_count = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests (TF Serving's name).",
            ["model_name", "status"],
            registry=registry,
        )
        self.tf_request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=TF_SERVING_LATENCY_BUCKETS_US,
            registry=registry,
        )
        self.tf_runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"],
            buckets=TF_SERVING_LATENCY_BUCKETS_US,
            registry=registry,
        )
        self.requests = Counter(
            "dlpipe_serving_requests", "Requests answered.", labels, registry=registry
        )
        self.errors = Counter(
            "dlpipe_serving_request_errors",
            "Requests answered with an error, by canonical code.",
            labels + ["code"],
            registry=registry,
        )
        self.latency = Histogram(
            "dlpipe_serving_request_latency_seconds",
            "Request latency from decode to encoded answer.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "dlpipe_serving_batch_size",
            "Rows per merged batch (server-side batching).",
            ["model", "version"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=registry,
        )
        self.version_state = Gauge(
            "dlpipe_serving_model_version_available",
            "1 while a model version is AVAILABLE, else 0.",
            ["model", "version"],
            registry=registry,
            multiprocess_mode="livemin",
        )

    def observe(
        self, model: str, version: str, api: str, protocol: str, code: str, seconds: float
    ) -> None:
        """Records one answered request."""
        key = (model, version, api, protocol, code)
        series = self._series.get(key)
        if series is None:  # label lookups once per label set (their number is bounded)
            tf_api = TF_API_NAMES.get(api)
            series = self._series[key] = (
                self.tf_request_count.labels(model, code),
                self.requests.labels(model, version, api, protocol),
                self.errors.labels(model, version, api, protocol, code) if code != "OK"
                else None,
                self.latency.labels(model, version, api, protocol),
                self.tf_request_latency.labels(model, tf_api, ENTRYPOINTS[protocol])
                if tf_api is not None else None,
            )
        count, requests, errors, latency, tf_latency = series
        count.inc()
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)
        if tf_latency is not None:
            tf_latency.observe(seconds * 1e6)

    def observe_runtime(self, model: str, api: str, runtime: str, seconds: float) -> None:
        """Records one model run (``api``: TF Serving's name, e.g. ``Predict``)."""
        self.tf_runtime_latency.labels(model, api, runtime).observe(seconds * 1e6)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric (all workers' in multiprocess mode)."""
        return generate_latest(self.registry)
