"""Prometheus metrics of the server, served at `GET /__metrics__` (text exposition format).

The metric objects live here and are fed by the protocol middleware (requests, latency,
database time). Apps add their own samples without `core` importing them: they increment
the counters here, or register a scrape-time collector from their `ready()` (the outbox
backlog of `notifications`). With `PROMETHEUS_MULTIPROC_DIR` set (as `bin/serve` does),
every worker process writes its samples into that directory and a scrape adds them up, so
one scrape reports the whole server whichever worker answers it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from django.db import connections
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from kinto_django.conf import as_bool, kinto_settings
from kinto_django.core import capabilities

logger = logging.getLogger(__name__)

# The names and labels of the reference server's Prometheus plugin (project name `kinto`),
# so that existing dashboards keep working.
PREFIX = "kinto_"
REGISTRY = CollectorRegistry()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DATABASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUESTS = Counter(
    PREFIX + "request_summary",
    "Requests served, by endpoint (route name), method and status.",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    PREFIX + "request_duration_seconds",
    "Time to answer a request, by endpoint and method.",
    ["endpoint", "method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
REQUEST_DATABASE_DURATION = Histogram(
    PREFIX + "request_database_seconds",
    "Time a request spent in SQL statements (every database), by endpoint and method.",
    ["endpoint", "method"],
    buckets=DATABASE_BUCKETS,
    registry=REGISTRY,
)
EVENTS_DELIVERED = Counter(
    PREFIX + "events_delivered",
    "Change events delivered, by listener.",
    ["listener"],
    registry=REGISTRY,
)
EVENT_DELIVERY_FAILURES = Counter(
    PREFIX + "event_delivery_failures",
    "Failed deliveries of change events (retried or skipped), by listener.",
    ["listener"],
    registry=REGISTRY,
)
UNAVAILABLE = Counter(
    PREFIX + "unavailable_responses",
    "Requests, live handshakes and subscriptions refused because the server or a backend "
    "failed (503, or 507 for a full disk), by cause.",
    ["cause"],
    registry=REGISTRY,
)

# Name -> function returning metric families, called at each scrape.
_scrape_collectors: dict[str, Callable[[], Iterable[Metric]]] = {}


def register_collector(name: str, collect: Callable[[], Iterable[Metric]]) -> None:
    """Add (or replace, by name) a function whose metrics are computed at each scrape, e.g.
    a gauge read from the database: it reports the server, not the worker answering."""
    _scrape_collectors[name] = collect


class ScrapeTimeCollector:
    """The registered scrape-time functions, as one prometheus_client collector. A failing
    function is logged and left out: the other metrics must still be scraped."""

    def describe(self) -> list[Metric]:
        # Registering must not run the functions (they may query a database not ready yet).
        return []

    def collect(self) -> Iterator[Metric]:
        for name, collect in list(_scrape_collectors.items()):
            try:
                families = list(collect())
            except Exception:  # noqa: BLE001 - one broken source must not fail the scrape
                logger.warning("Metrics collector %r failed", name, exc_info=True)
                continue
            yield from families


SCRAPE_TIME_COLLECTOR = ScrapeTimeCollector()
REGISTRY.register(SCRAPE_TIME_COLLECTOR)


def metrics_enabled() -> bool:
    """The `metrics_enabled` setting: the route, the capability and the counting itself.
    Off unless set (the standalone project sets it): the endpoint answers anybody."""
    return kinto_settings.get("metrics_enabled", False, as_bool)


def multiprocess_directory() -> str | None:
    """Where every worker writes its samples (set by `bin/serve`), None in one process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposed_registry() -> CollectorRegistry:
    """What a scrape reports: every worker process's samples in multi-process mode, else
    this process's."""
    directory = multiprocess_directory()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    registry.register(SCRAPE_TIME_COLLECTOR)
    return registry


def exposition() -> bytes:
    """The text exposition of every metric (see `exposed_registry`)."""
    return generate_latest(exposed_registry())


def count_unavailable(cause: str | None) -> None:
    """Count one refusal of `errors.CAUSE` (nothing for other errors)."""
    if cause and metrics_enabled():
        UNAVAILABLE.labels(cause).inc()


def observe_request(
    endpoint: str, method: str, status: int, seconds: float, database_seconds: float
) -> None:
    """Count one answered request and its durations."""
    method = method.lower()
    REQUESTS.labels(endpoint, method, str(status)).inc()
    REQUEST_DURATION.labels(endpoint, method).observe(seconds)
    REQUEST_DATABASE_DURATION.labels(endpoint, method).observe(database_seconds)


class QueryTimer:
    """A `connection.execute_wrapper`: adds up the time and number of SQL statements."""

    __slots__ = ("queries", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


@contextmanager
def database_time() -> Iterator[QueryTimer]:
    """Time the SQL statements of every database alias run by this thread inside the block
    (a batch's sub-requests included)."""
    timer = QueryTimer()
    with ExitStack() as stack:
        for connection in connections.all():
            stack.enter_context(connection.execute_wrapper(timer))
        yield timer


capabilities.register(
    capabilities.Feature(
        name="prometheus",
        description="Prometheus metrics.",
        url="https://kinto.readthedocs.io/en/stable/configuration/settings.html",
        enabled=metrics_enabled,
        extras=lambda: {"prefix": PREFIX, "disabled_metrics": []},
    )
)
