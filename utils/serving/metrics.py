"""The service's Prometheus metrics, in a registry of its own (two apps in one process, as in
tests, count separately)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no *_created series: scrapers read counters, not their birth times

# Seconds: from a few milliseconds (a warm small model) to the default request timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """Requests by path and status, latency, batch sizes, model time, queue depth."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, max_batch: int) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "yolo_requests",
            "HTTP requests answered, by route and status",
            ("path", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "yolo_request_seconds",
            "time from a request's arrival to its answer, by route",
            ("path",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        sizes = sorted({1, 2, 4, 8, 16, 32, 64, 128, max_batch})
        self.batch_size = Histogram(
            "yolo_batch_size",
            "images per run of the model",
            buckets=[s for s in sizes if s <= max_batch],
            registry=self.registry,
        )
        self.model_seconds = Histogram(
            "yolo_model_seconds",
            "seconds per run of the model (a whole batch)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "yolo_queue_depth",
            "images waiting for the model",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "yolo_requests_in_flight",
            "detection requests admitted and not yet answered",
            registry=self.registry,
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.model_seconds.observe(seconds)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
