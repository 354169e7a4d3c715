"""The Prometheus metrics of the graph, recorded through Ray Serve's metrics API.

Every deployment wrapper (and the ingress) records into one ``ServeMetrics`` made in its
constructor. Ray exports the figures from each node's metrics agent, the endpoint Prometheus
scrapes (``--metrics-export-port``), with a ``ray_`` prefix and the ``deployment``, ``replica``
and ``application`` tags Serve adds, so ``moderation_latency_seconds`` is per deployment
without a tag of ours. Serve's own metrics (replicas, queue lengths, HTTP status counts) come
from the same endpoint; ``configs/grafana/`` charts both.

Model code never imports this module: only the thin Ray wrappers do.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ray.serve import metrics

LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
BATCH_BUCKETS = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]


def peak_memory_bytes() -> int:
    """Peak resident memory of this process: a replica's model, loaded and warmed, and all."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; Linux: KiB


class ServeMetrics:
    """The metrics one replica records; unused ones cost nothing until first recorded."""

    def __init__(self) -> None:
        self.latency = metrics.Histogram(
            "moderation_latency_seconds",
            description="Time a deployment spent on one call (ingress: one whole request).",
            boundaries=LATENCY_BUCKETS,
            tag_keys=("method",),
        )
        self.batch_size = metrics.Histogram(
            "moderation_batch_size",
            description="Items per model call (@serve.batch batches and request lists).",
            boundaries=BATCH_BUCKETS,
            tag_keys=("method",),
        )
        self.memory = metrics.Gauge(
            "model_memory_bytes", description="Peak resident memory of the replica process."
        )
        self.requests = metrics.Counter(
            "moderation_requests",
            description="Moderation decisions answered, by endpoint, decision and platform.",
            # Ray annotates tag_keys as a one-tuple; any number of keys works.
            tag_keys=("endpoint", "decision", "platform", "degraded"),  # type: ignore[arg-type]
        )
        self.fallbacks = metrics.Counter(
            "moderation_fallbacks",
            description="Items an analyzer did not answer, by reason: texts then go to the regex "
            "fallback, images are left unscored for the policy to decide.",
            tag_keys=("analyzer", "reason"),  # type: ignore[arg-type]
        )
        self.rate_limited = metrics.Counter(
            "moderation_rate_limited",
            description="Requests refused with 429, by the limited field.",
            tag_keys=("field",),
        )
        self.shed = metrics.Counter(
            "moderation_shed",
            description="Requests refused with 503 because the ingress was at max_in_flight.",
        )

    @contextmanager
    def timed(self, method: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.latency.observe(time.perf_counter() - started, tags={"method": method})

    def model_batch(self, method: str, size: int) -> None:
        """One model call of ``size`` items, and the replica's memory after it."""
        self.batch_size.observe(size, tags={"method": method})
        self.refresh_memory()

    def refresh_memory(self) -> None:
        self.memory.set(peak_memory_bytes())
