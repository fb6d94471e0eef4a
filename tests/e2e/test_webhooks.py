"""Webhooks end to end: a real server, a real `manage.py kinto_dispatch_events` process and a
webhook receiver on 127.0.0.1 that is down for a while. Every event arrives, signed, in
order per collection, once, through the outage, a clean restart and a crash of the
dispatcher; a dispatcher thread in each of two server workers delivers each event once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kinto_http import Client

from tests.e2e.server import ROOT, ServerProcess, free_port
from tests.notifications.receivers import Delivery, WebhookReceiver

pytestmark = pytest.mark.e2e

AUTH = ("alice", "secret")
SECRET = "e2e-hook-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.stop()


def hook_settings(receiver: WebhookReceiver, **extra: str) -> dict[str, str]:
    return {
        "log_level": "WARNING",
        "event_listeners": "hook",
        "event_listeners_hook_use": "webhook",
        "event_listeners_hook_url": receiver.url,
        "event_listeners_hook_secret": SECRET,
        "event_listeners_hook_timeout_seconds": "1",
        "event_dispatcher_poll_seconds": "0.2",
        "event_dispatcher_retry_min_seconds": "0.2",
        "event_dispatcher_retry_max_seconds": "1",
        "event_dispatcher_lease_seconds": "3",
        **extra,
    }


def start_dispatcher(server: ServerProcess, log: Path, *options: str) -> subprocess.Popen:
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "kinto_dispatch_events", *options],
            cwd=ROOT,
            env=server.environ(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def records_of(deliveries: list[Delivery], collection: str) -> list[list[str]]:
    """The record ids of each delivered record event of a collection, in arrival order."""
    return [
        [item["new"]["id"] for item in d.json["impacted_objects"]]
        for d in deliveries
        if d.json["payload"]["resource_name"] == "record"
        and d.json["payload"]["collection_id"] == collection
    ]


def check(deliveries: list[Delivery]) -> None:
    """Signed, each event once, and in timestamp order within each scope."""
    assert all(d.signed_with(SECRET) for d in deliveries)
    assert len({d.event_id for d in deliveries}) == len(deliveries)
    last: dict[tuple, int] = {}
    for delivery in deliveries:
        payload = delivery.json["payload"]
        scope = (payload["resource_name"], payload.get("bucket_id"), payload.get("collection_id"))
        if payload["resource_name"] == "collection":
            scope = ("collection", payload["bucket_id"])
        assert payload["timestamp"] > last.get(scope, 0)
        last[scope] = payload["timestamp"]


def test_deliveries_survive_an_outage_a_restart_and_a_crash(tmp_path, receiver):
    receiver.start()
    receiver.stop()  # its port is known, and refuses connections for now
    server = ServerProcess(
        tmp_path,
        workers=2,
        threads=4,
        settings=hook_settings(receiver),
        database_suffix="e2e_webhooks",
    )
    log = tmp_path / "dispatcher.log"
    server.start()
    dispatcher = start_dispatcher(server, log)
    try:
        client = Client(server_url=server.url, auth=AUTH, bucket="shop", collection="orders")
        client.create_bucket(id="shop")
        client.create_collection(id="orders")
        client.create_collection(id="other")
        for n in range(5):
            client.create_record(id=f"r{n}", data={"n": n})
        with client.batch() as batch:
            batch.create_record(id="b1", data={})
            batch.create_record(id="b2", data={})
            batch.create_record(id="x1", data={}, collection="other")
        time.sleep(1.5)  # the dispatcher keeps failing against the closed port
        assert receiver.deliveries == []
        receiver.start()
        deliveries = receiver.wait_for(10)
        assert records_of(deliveries, "orders") == [
            ["r0"],
            ["r1"],
            ["r2"],
            ["r3"],
            ["r4"],
            ["b1", "b2"],
        ]
        assert records_of(deliveries, "other") == [["x1"]]
        assert deliveries[0].json["payload"]["resource_name"] == "bucket"

        # A clean restart: the stopping dispatcher hands its lease over.
        dispatcher.send_signal(signal.SIGTERM)
        assert dispatcher.wait(timeout=15) == 0
        client.create_record(id="r5", data={})
        client.create_record(id="r6", data={})
        dispatcher = start_dispatcher(server, log)
        receiver.wait_for(12, timeout=10)

        # A crash: the next dispatcher takes over once the lease expires. (Killed between a
        # delivery and its marking, it would deliver that event again: at least once.)
        time.sleep(1)
        dispatcher.kill()
        dispatcher.wait(timeout=15)
        client.create_record(id="r7", data={})
        dispatcher = start_dispatcher(server, log)
        deliveries = receiver.wait_for(13, timeout=30)
        time.sleep(0.5)
        deliveries = receiver.deliveries
        assert len(deliveries) == 13
        assert records_of(deliveries, "orders")[-3:] == [["r5"], ["r6"], ["r7"]]
        check(deliveries)
    finally:
        dispatcher.kill()
        dispatcher.wait(timeout=15)
        server.stop()
        print(log.read_text(errors="replace")[-3000:])


def test_dispatcher_threads_in_server_workers_deliver_each_event_once(tmp_path, receiver):
    receiver.start()
    server = ServerProcess(
        tmp_path,
        workers=2,
        threads=4,
        settings=hook_settings(receiver, event_dispatcher_in_server="true"),
        database_suffix="e2e_webhooks_in_server",
    )
    server.start()
    try:
        client = Client(server_url=server.url, auth=AUTH, bucket="shop", collection="orders")
        client.create_bucket(id="shop")
        client.create_collection(id="orders")
        for n in range(20):
            client.create_record(id=f"r{n:02}", data={})
        receiver.wait_for(22, timeout=30)
        time.sleep(1.0)  # time for a duplicate to show up, if any
        deliveries = receiver.deliveries
        assert len(deliveries) == 22
        assert records_of(deliveries, "orders") == [[f"r{n:02}"] for n in range(20)]
        check(deliveries)
    finally:
        server.stop()


def sample(metrics: str, name: str) -> float:
    """The value of one sample line (`name{labels}`) of a Prometheus exposition."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {name} in:\n{metrics}")


def test_a_dispatcher_service_serves_its_own_metrics(tmp_path, receiver):
    receiver.start()
    server = ServerProcess(
        tmp_path, workers=1, settings=hook_settings(receiver), database_suffix="e2e_hookmetrics"
    )
    log = tmp_path / "dispatcher.log"
    server.start()
    port = free_port()  # once the server holds its own
    dispatcher = start_dispatcher(server, log, "--metrics-port", str(port))
    metrics_url = f"http://127.0.0.1:{port}/"
    try:
        client = Client(server_url=server.url, auth=AUTH, bucket="shop", collection="orders")
        client.create_bucket(id="shop")
        client.create_collection(id="orders")
        for n in range(3):
            client.create_record(id=f"r{n}", data={"n": n})
        receiver.wait_for(5)
        deadline = time.monotonic() + 10
        while True:  # the metrics server starts with the dispatcher, not before
            try:
                metrics = requests.get(metrics_url, timeout=5).text
                if sample(metrics, 'kinto_events_delivered_total{listener="hook"}') == 5:
                    break
            except (requests.ConnectionError, AssertionError):
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        assert sample(metrics, 'kinto_event_outbox_backlog{listener="hook"}') == 0

        # The webhook goes down: failures are counted and the backlog shows the waiting event.
        receiver.stop()
        client.create_record(id="late", data={})
        time.sleep(1.5)
        metrics = requests.get(metrics_url, timeout=5).text
        assert sample(metrics, 'kinto_event_delivery_failures_total{listener="hook"}') >= 1
        assert sample(metrics, 'kinto_event_outbox_backlog{listener="hook"}') == 1
    finally:
        dispatcher.send_signal(signal.SIGTERM)
        dispatcher.wait(timeout=15)
        server.stop()
        print(log.read_text(errors="replace")[-3000:])
