"""`GET /v1/__metrics__`: Prometheus metrics of real requests, events and the outbox."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import OperationalError

from kinto_django.core import timestamps
from kinto_django.notifications import listeners
from kinto_django.notifications.outbox.dispatcher import Dispatcher
from tests import factories
from tests.notifications.receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[3]
REQUESTS = "kinto_request_summary_total"
DURATION = "kinto_request_duration_seconds"
DATABASE = "kinto_request_database_seconds"


def test_requests_are_counted_by_route_method_and_status(api, scrape):
    record_id = f"r-{uuid.uuid4().hex}"
    factories.collection(api)
    before = scrape()
    factories.record(api, {"n": 1}, record_id=record_id)
    assert api.get(f"{factories.RECORDS}/{record_id}").status == 200
    assert api.get(f"{factories.RECORDS}/{record_id}").status == 200
    assert api.get(f"{factories.RECORDS}/missing").status == 404
    after = scrape()

    def delta(**labels: str) -> float:
        return after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels)

    assert delta(endpoint="record-object", method="put", status="201") == 1
    assert delta(endpoint="record-object", method="get", status="200") == 2
    assert delta(endpoint="record-object", method="get", status="404") == 1
    # The route name, never the path: ids would make a new series per object.
    assert record_id not in after.text
    assert "missing" not in after.text


UNAVAILABLE = "kinto_unavailable_responses_total"


@pytest.mark.parametrize(
    ("failure", "status", "cause"),
    [
        ("could not connect to server: Connection refused", 503, "database_unavailable"),
        ("FATAL:  sorry, too many clients already", 503, "database_connections"),
        ("database is locked", 503, "lock_timeout"),
        ("database or disk is full", 507, "disk_full"),
    ],
)
def test_refusals_are_counted_by_cause(api, scrape, monkeypatch, failure, status, cause):
    """An operator tells an outage from a lack of connections, a lock and a full disk."""
    factories.collection(api)

    def broken(*args):
        raise OperationalError(failure)

    monkeypatch.setattr(timestamps, "list_timestamp", broken)
    before = scrape()
    response = api.get(factories.RECORDS)
    after = scrape()
    assert response.status == status, response
    assert response.headers["Retry-After"].isdigit()
    assert response.json["errno"] == 201
    assert after.value(UNAVAILABLE, cause=cause) - before.value(UNAVAILABLE, cause=cause) == 1
    if status == 507:
        assert "no storage space left" in response.json["message"]


def test_a_file_that_fills_its_disk_is_a_507(api, scrape, monkeypatch):
    """Writing a file (an upload being received or stored) on a full disk: 507, not 500."""
    factories.collection(api)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(timestamps, "list_timestamp", full)
    before = scrape()
    response = api.get(factories.RECORDS)
    assert response.status == 507, response
    assert "no storage space left" in response.json["message"]
    after = scrape()
    assert (
        after.value(UNAVAILABLE, cause="disk_full") - before.value(UNAVAILABLE, cause="disk_full")
        == 1
    )


def test_a_batchs_sub_requests_are_counted_too(api, scrape):
    factories.collection(api)
    before = scrape()
    puts = [{"method": "PUT", "path": f"{factories.RECORDS}/s{i}"} for i in range(4)]
    assert api.post("/batch", {"requests": puts}).status == 200
    after = scrape()

    def delta(**labels: str) -> float:
        return after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels)

    assert delta(endpoint="record-object", method="put", status="201") == 4
    assert delta(endpoint="batch", method="post", status="200") == 1


def test_latency_histogram_buckets_are_cumulative(api, scrape):
    before = scrape()
    for _ in range(3):
        assert api.get("/buckets").status == 200
    after = scrape()
    labels = {"endpoint": "bucket-plural", "method": "get"}
    count = after.value(DURATION + "_count", **labels) - before.value(
        DURATION + "_count", **labels
    )
    assert count == 3
    buckets = after.matching(DURATION + "_bucket", **labels)
    bounds = [float(sample.labels["le"]) for sample in buckets]
    assert bounds == sorted(bounds) and bounds[-1] == float("inf") and len(bounds) > 5
    values = [sample.value for sample in buckets]
    assert values == sorted(values)
    assert values[-1] == after.value(DURATION + "_count", **labels)
    assert after.value(DURATION + "_sum", **labels) > before.value(DURATION + "_sum", **labels)


def test_database_time_of_a_write_is_measured(api, scrape):
    before = scrape()
    factories.bucket(api, f"b-{uuid.uuid4().hex[:8]}")
    after = scrape()
    labels = {"endpoint": "bucket-object", "method": "put"}
    spent = after.value(DATABASE + "_sum", **labels) - before.value(DATABASE + "_sum", **labels)
    assert spent > 0
    count = after.value(DATABASE + "_count", **labels) - before.value(
        DATABASE + "_count", **labels
    )
    assert count == 1


def test_a_request_without_sql_spends_no_database_time(anonymous, scrape):
    labels = {"endpoint": "lbheartbeat", "method": "get"}
    before = scrape()
    assert anonymous.get("/v1/__lbheartbeat__").status == 200
    after = scrape()

    def delta(name: str, **extra: str) -> float:
        return after.value(name, **labels, **extra) - before.value(name, **labels, **extra)

    assert delta(DATABASE + "_count") == 1
    assert delta(DATABASE + "_sum") == 0
    assert delta(DATABASE + "_bucket", le="0.0005") == 1


def test_metrics_are_plain_text_for_anyone(anonymous):
    response = anonymous.get("/v1/__metrics__", headers={"Accept": "text/plain"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert b"# TYPE kinto_request_summary_total counter" in response.content


def test_capability_and_openapi_path(anonymous):
    root = anonymous.get("/")
    capability = root.json["capabilities"]["prometheus"]
    assert capability["prefix"] == "kinto_"
    assert capability["disabled_metrics"] == []
    paths = anonymous.get("/v1/__api__").json["paths"]
    content = paths["/__metrics__"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in content


def test_metrics_can_be_turned_off(anonymous, kinto_settings, scrape):
    before = scrape()
    kinto_settings(metrics_enabled="false")
    assert anonymous.get("/v1/__metrics__").status == 404
    assert "prometheus" not in anonymous.get("/").json["capabilities"]
    assert "/__metrics__" not in anonymous.get("/v1/__api__").json["paths"]
    kinto_settings(metrics_enabled="true")
    after = scrape()
    # Nothing was counted while off.
    labels = {"endpoint": "root", "method": "get", "status": "200"}
    assert after.value(REQUESTS, **labels) == before.value(REQUESTS, **labels)


def test_metrics_are_off_in_a_site_that_does_not_ask_for_them(anonymous, settings):
    """The standalone project turns them on; the apps in a host site serve no public
    endpoint of counters unless the site sets `metrics_enabled`."""
    settings.KINTO = {k: v for k, v in settings.KINTO.items() if k != "metrics_enabled"}
    assert anonymous.get("/v1/__metrics__").status == 404
    assert "prometheus" not in anonymous.get("/").json["capabilities"]


# --- events ---------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    hook = WebhookReceiver().start()
    yield hook
    hook.stop()


def test_outbox_backlog_and_deliveries_of_a_webhook(api, kinto_settings, receiver, scrape):
    kinto_settings(
        event_listeners="metered",
        event_listeners_metered_use="webhook",
        event_listeners_metered_url=receiver.url,
        event_listeners_metered_secret="s3cret",
        event_listeners_metered_resources="record",
    )
    factories.collection(api)
    start = scrape()
    assert start.value("kinto_event_outbox_backlog", listener="metered") == 0
    factories.record(api, record_id="a")
    factories.record(api, record_id="b")
    queued = scrape()
    assert queued.value("kinto_event_outbox_backlog", listener="metered") == 2

    assert Dispatcher().drain() == 2
    assert len(receiver.deliveries) == 2
    done = scrape()
    assert done.value("kinto_event_outbox_backlog", listener="metered") == 0
    delivered = "kinto_events_delivered_total"
    assert (
        done.value(delivered, listener="metered") - start.value(delivered, listener="metered") == 2
    )


def test_failed_webhook_deliveries_are_counted(api, kinto_settings, receiver, scrape):
    kinto_settings(
        event_listeners="refused",
        event_listeners_refused_use="webhook",
        event_listeners_refused_url=receiver.url,
        event_listeners_refused_secret="s3cret",
    )
    receiver.answer = lambda message: 500
    before = scrape()
    factories.bucket(api, f"b-{uuid.uuid4().hex[:8]}")
    Dispatcher().run_once()
    after = scrape()
    failures = "kinto_event_delivery_failures_total"
    assert (
        after.value(failures, listener="refused") - before.value(failures, listener="refused") == 1
    )
    assert after.value("kinto_event_outbox_backlog", listener="refused") == 1


def test_in_process_listeners_deliveries_and_failures(
    api, scrape, django_capture_on_commit_callbacks
):
    def broken(payload, impacted):
        raise RuntimeError("down")

    listeners.register(listeners.Listener("metered-sink", lambda payload, impacted: None))
    listeners.register(listeners.Listener("broken-sink", broken))
    try:
        before = scrape()
        with django_capture_on_commit_callbacks(execute=True):
            factories.bucket(api, f"b-{uuid.uuid4().hex[:8]}")
        after = scrape()
    finally:
        listeners.unregister("metered-sink")
        listeners.unregister("broken-sink")
    delivered = "kinto_events_delivered_total"
    failures = "kinto_event_delivery_failures_total"
    assert (
        after.value(delivered, listener="metered-sink")
        - before.value(delivered, listener="metered-sink")
        == 1
    )
    assert (
        after.value(failures, listener="broken-sink")
        - before.value(failures, listener="broken-sink")
        == 1
    )
    assert after.value(delivered, listener="broken-sink") == before.value(
        delivered, listener="broken-sink"
    )


# --- several processes -------------------------------------------------------------------------

WORKER = """
import django
django.setup()
from kinto_django.core.observability import metrics
metrics.observe_request("record-object", "GET", 200, 0.02, 0.001)
metrics.EVENTS_DELIVERED.labels("hook").inc()
"""


def test_a_scrape_adds_up_every_worker_process(anonymous, tmp_path, monkeypatch, scrape):
    """In multi-process mode (as bin/serve runs), samples of other processes are reported."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "kinto_project.settings")
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", WORKER],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=60,
            capture_output=True,
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    scraped = scrape()
    labels = {"endpoint": "record-object", "method": "get"}
    assert scraped.value(REQUESTS, status="200", **labels) == 2
    assert scraped.value(DURATION + "_count", **labels) == 2
    assert scraped.value("kinto_events_delivered_total", listener="hook") == 2
