"""Prometheus metrics of the embedded server (one registry per server instance).

Names: ``:tensorflow:serving:request_count_total`` mirrors TF Serving's request counter (labels
``model_name``, ``status``); the ``dlpipe_serving_*`` series add the version, the API
(predict, classify, regress, multi_inference, metadata, status) and the protocol (rest,
grpc).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """Counters and histograms a server updates per request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model", "version", "api", "protocol"]
        self.tf_request_count = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests (TF Serving's name).",
            ["model_name", "status"],
            registry=self.registry,
        )
        self.requests = Counter(
            "dlpipe_serving_requests", "Requests answered.", labels, registry=self.registry
        )
        self.errors = Counter(
            "dlpipe_serving_request_errors",
            "Requests answered with an error, by canonical code.",
            labels + ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dlpipe_serving_request_latency_seconds",
            "Request latency from decode to encoded answer.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "dlpipe_serving_batch_size",
            "Rows per merged batch (server-side batching).",
            ["model", "version"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.version_state = Gauge(
            "dlpipe_serving_model_version_available",
            "1 while a model version is AVAILABLE, else 0.",
            ["model", "version"],
            registry=self.registry,
        )

    def observe(
        self, model: str, version: str, api: str, protocol: str, code: str, seconds: float
    ) -> None:
        """Records one answered request."""
        self.tf_request_count.labels(model, code).inc()
        self.requests.labels(model, version, api, protocol).inc()
        if code != "OK":
            self.errors.labels(model, version, api, protocol, code).inc()
        self.latency.labels(model, version, api, protocol).observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
