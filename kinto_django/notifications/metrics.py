"""The outbox backlog as a Prometheus gauge, computed when the metrics are scraped."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from kinto_django.core.observability.metrics import PREFIX
from kinto_django.notifications.outbox.entries import backlog
from kinto_django.notifications.outbox.sinks import configured_sinks


def outbox_backlog() -> Iterator[GaugeMetricFamily]:
    """Undelivered events per listener, read from the database at each scrape (one query),
    so that every worker reports the same, whole-server figure; configured listeners with
    nothing waiting show 0."""
    gauge = GaugeMetricFamily(
        PREFIX + "event_outbox_backlog",
        "Change events not delivered yet, by durable listener.",
        labels=["listener"],
    )
    counts = {sink.name: 0 for sink in configured_sinks()}
    counts.update(backlog())
    for listener, events in sorted(counts.items()):
        gauge.add_metric([listener], events)
    yield gauge
