"""Request ids, JSON logs and Prometheus metrics, applied to each request by one ASGI middleware."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

# Every label is bounded: a method outside these is "other", a path no route matched is
# "unmatched", and a status is one of the codes the app answers with.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

REQUESTS = Counter(
    "rhythm_http_requests_total",
    "HTTP requests by route template, method and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "rhythm_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def metrics_payload(job_counts: list[tuple[str, str, int]]) -> tuple[bytes, str]:
    """The Prometheus exposition: all processes' request metrics plus the job counts."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    payload = generate_latest(registry)
    jobs = GaugeMetricFamily(
        "rhythm_jobs", "Background jobs by task and status.", labels=["task", "status"]
    )
    for task, status, count in job_counts:
        jobs.add_metric([task, status], count)
    extra = CollectorRegistry()
    extra.register(_Static([jobs]))
    return payload + generate_latest(extra), CONTENT_TYPE_LATEST


class _Static:
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self.families
