"""The dispatcher delivering the outbox to a webhook on 127.0.0.1: signed, in order per scope,
retried with capped exponential backoff, through outages and restarts, by one dispatcher at a
time. Time is a fake clock the tests move forward."""

from __future__ import annotations

import time

import pytest
from django.core.management import CommandError, call_command

from kinto_django.notifications.outbox import dispatcher as dispatcher_module
from kinto_django.notifications.outbox.dispatcher import Dispatcher, retry_delay
from kinto_django.notifications.outbox.entries import backlog
from kinto_django.notifications.outbox.models import OutboxEntry
from tests import factories

RECORDS = factories.RECORDS
SECRET = "hook-secret"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def api(db):
    from django.test import Client

    from tests.conftest import Api

    return Api(Client(), user="alice")


@pytest.fixture
def webhook(kinto_settings, receiver):
    kinto_settings(
        event_listeners="hook",
        event_listeners_hook_use="webhook",
        event_listeners_hook_url=receiver.url,
        event_listeners_hook_secret=SECRET,
        event_listeners_hook_resources="record",
        event_listeners_hook_timeout_seconds=2,
        event_dispatcher_retry_min_seconds=1,
        event_dispatcher_retry_max_seconds=8,
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def dispatcher(clock):
    return Dispatcher(clock=clock)


def created(deliveries):
    """The ids of the records each delivery says were written."""
    return [[item["new"]["id"] for item in d.json["impacted_objects"]] for d in deliveries]


def write(api, *record_ids, collection_id="orders"):
    for record_id in record_ids:
        factories.record(api, collection_id=collection_id, record_id=record_id)


def test_deliveries_are_signed_ordered_and_marked(api, webhook, receiver, dispatcher):
    factories.collection(api)
    write(api, "r1", "r2", "r3")
    assert dispatcher.drain() == 3
    deliveries = receiver.deliveries
    assert created(deliveries) == [["r1"], ["r2"], ["r3"]]
    for delivery in deliveries:
        assert delivery.signed_with(SECRET)
        assert not delivery.signed_with("another secret")
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.headers["X-Kinto-Event-Id"] == delivery.json["id"]
        assert delivery.headers["X-Kinto-Delivery-Attempt"] == "1"
        assert set(delivery.json) == {"id", "payload", "impacted_objects"}
        assert delivery.json["payload"]["action"] == "create"
    assert OutboxEntry.objects.pending().count() == 0
    assert OutboxEntry.objects.filter(delivered_at__isnull=False).count() == 3
    assert dispatcher.drain() == 0
    assert len(receiver.deliveries) == 3


def test_backoff_doubles_and_is_capped(kinto_settings):
    kinto_settings(event_dispatcher_retry_min_seconds=2, event_dispatcher_retry_max_seconds=60)
    assert [retry_delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert retry_delay(10_000) == 60


def test_a_failed_delivery_is_retried_with_backoff(api, webhook, receiver, dispatcher, clock):
    factories.collection(api)
    write(api, "r1")
    receiver.answer = lambda message: 503
    expected_delays = [1, 2, 4, 8, 8]
    for attempt, delay in enumerate(expected_delays, start=1):
        assert dispatcher.drain() == 0
        (entry,) = OutboxEntry.objects.pending()
        assert entry.attempts == attempt
        assert entry.next_attempt_at.timestamp() == pytest.approx(clock() + delay)
        assert "503" in entry.last_error
        # Not before it is due.
        clock.advance(delay - 0.5)
        assert dispatcher.drain() == 0
        assert len(receiver.refused) == attempt
        clock.advance(0.5)
    receiver.answer = lambda message: 200
    assert dispatcher.drain() == 1
    attempts = [d.headers["X-Kinto-Delivery-Attempt"] for d in receiver.refused]
    (delivery,) = receiver.deliveries
    assert attempts == ["1", "2", "3", "4", "5"]
    assert delivery.headers["X-Kinto-Delivery-Attempt"] == "6"
    assert {d.event_id for d in receiver.refused} == {delivery.event_id}


def test_later_events_of_a_scope_wait_behind_a_failed_one(
    api, webhook, receiver, dispatcher, clock
):
    factories.collection(api)
    write(api, "r1", "r2", "r3")
    receiver.answer = lambda message: 500 if message["payload"]["record_id"] == "r1" else 200
    assert dispatcher.drain() == 0
    assert receiver.deliveries == [] and len(receiver.refused) == 1
    receiver.answer = lambda message: 200
    clock.advance(1)
    assert dispatcher.drain() == 3
    assert created(receiver.deliveries) == [["r1"], ["r2"], ["r3"]]


def test_other_scopes_proceed_while_one_is_failing(api, webhook, receiver, dispatcher, clock):
    factories.collection(api)
    factories.collection(api, collection_id="bad", create_bucket=False)
    for record_id in ("a1", "a2", "a3"):
        write(api, record_id)
        write(api, record_id.replace("a", "b"), collection_id="bad")
    receiver.answer = lambda message: 500 if message["payload"]["collection_id"] == "bad" else 200
    assert dispatcher.drain() == 3
    assert created(receiver.deliveries) == [["a1"], ["a2"], ["a3"]]
    assert created(receiver.refused) == [["b1"]]
    write(api, "a4")
    assert dispatcher.drain() == 1
    receiver.answer = lambda message: 200
    clock.advance(1)
    assert dispatcher.drain() == 3
    assert created(receiver.deliveries)[4:] == [["b1"], ["b2"], ["b3"]]


def test_an_outage_loses_nothing(api, webhook, receiver, dispatcher, clock):
    factories.collection(api)
    factories.collection(api, collection_id="other", create_bucket=False)
    write(api, "r1")
    assert dispatcher.drain() == 1
    receiver.stop()
    write(api, "r2", "r3")
    write(api, "x1", collection_id="other")
    assert dispatcher.drain() == 0
    r2, r3, x1 = OutboxEntry.objects.pending().order_by("id")
    assert r2.attempts == 1 and "unreachable" in r2.last_error
    # Unreachable: the listener waits for the retry instead of trying every other scope.
    assert x1.attempts == 0
    write(api, "r4")
    clock.advance(1)
    assert dispatcher.drain() == 0
    receiver.start()  # back, on the same port
    assert dispatcher.drain() == 0  # still waiting for the retry (2 s)
    clock.advance(2)
    assert dispatcher.drain() == 4
    deliveries = receiver.deliveries
    assert created(deliveries) == [["r1"], ["r2"], ["r3"], ["r4"], ["x1"]]
    assert all(d.signed_with(SECRET) for d in deliveries)
    assert deliveries[1].headers["X-Kinto-Delivery-Attempt"] == "3"


def test_a_redirect_is_a_failed_delivery(api, webhook, receiver, dispatcher):
    factories.collection(api)
    write(api, "r1")
    receiver.answer = lambda message: 307
    assert dispatcher.drain() == 0
    (entry,) = OutboxEntry.objects.pending()
    assert "307" in entry.last_error


def test_a_restarted_dispatcher_resumes_where_the_crashed_one_stopped(
    api, webhook, receiver, clock
):
    factories.collection(api)
    write(api, "r1", "r2")
    crashed = Dispatcher(clock=clock)
    assert crashed.drain() == 2
    write(api, "r3", "r4")
    # It died without handing its lease over: the next one waits for the lease to expire.
    restarted = Dispatcher(clock=clock)
    assert restarted.drain() == 0
    clock.advance(29)
    assert restarted.drain() == 0
    clock.advance(2)
    assert restarted.drain() == 2
    assert created(receiver.deliveries) == [["r1"], ["r2"], ["r3"], ["r4"]]
    assert len({d.event_id for d in receiver.deliveries}) == 4
    # The crashed one, back from a pause, finds its lease taken.
    write(api, "r5")
    assert crashed.drain() == 0
    assert restarted.drain() == 1


def test_a_stopped_dispatcher_hands_over_at_once(api, webhook, receiver, clock):
    factories.collection(api)
    first = Dispatcher(clock=clock)
    write(api, "r1")
    assert first.drain() == 1
    first.release()
    write(api, "r2")
    assert Dispatcher(clock=clock).drain() == 1


def test_delivered_entries_are_pruned_after_the_retention(
    api, webhook, kinto_settings, receiver, dispatcher, clock
):
    kinto_settings(event_outbox_retention_seconds=3600)
    factories.collection(api)
    write(api, "r1")
    assert dispatcher.drain() == 1
    receiver.answer = lambda message: 500
    write(api, "r2")
    clock.advance(3599)
    dispatcher.run_once()
    assert OutboxEntry.objects.count() == 2
    clock.advance(61)  # pruning runs once a minute
    dispatcher.run_once()
    (kept,) = OutboxEntry.objects.all()
    assert kept.delivered_at is None


def test_entries_of_unconfigured_listeners_wait(api, webhook, kinto_settings, dispatcher):
    factories.collection(api)
    write(api, "r1")
    kinto_settings(event_listeners="")
    assert dispatcher.drain() == 0
    assert backlog() == {"hook": 1}


def test_command_once_status_and_discard(api, webhook, receiver, capsys):
    factories.collection(api)
    write(api, "r1", "r2")
    call_command("kinto_dispatch_events", "--status")
    assert capsys.readouterr().out == "hook: 2 undelivered events\nLease: never taken\n"
    call_command("kinto_dispatch_events", "--once")
    assert capsys.readouterr().out == "2 events delivered, 0 waiting\n"
    assert created(receiver.deliveries) == [["r1"], ["r2"]]
    receiver.answer = lambda message: 500
    write(api, "r3")
    call_command("kinto_dispatch_events", "--once")
    assert capsys.readouterr().out == "0 events delivered, 1 waiting\n"
    call_command("kinto_dispatch_events", "--discard", "hook")
    assert capsys.readouterr().out == "1 undelivered entries of 'hook' deleted\n"
    assert backlog() == {}


def test_command_once_refuses_while_another_dispatcher_delivers(api, webhook):
    holder = Dispatcher()
    assert holder.lease.hold()
    with pytest.raises(CommandError, match="Another dispatcher is delivering"):
        call_command("kinto_dispatch_events", "--once")


def test_command_refuses_invalid_listeners(db, kinto_settings):
    kinto_settings(event_listeners="hook", event_listeners_hook_use="carrier-pigeon")
    with pytest.raises(CommandError, match="`use` is 'carrier-pigeon'"):
        call_command("kinto_dispatch_events", "--once")


@pytest.fixture
def committing_api(transactional_db):
    from django.test import Client

    from tests.conftest import Api

    return Api(Client(), user="alice")


def test_a_server_process_can_run_the_dispatcher(
    committing_api, webhook, kinto_settings, receiver
):
    kinto_settings(event_dispatcher_in_server=True, event_dispatcher_poll_seconds=30)
    try:
        factories.collection(committing_api)
        assert dispatcher_module._server_thread.is_alive()
        started = time.monotonic()
        factories.record(committing_api, record_id="r1")
        # Woken by the commit, not by its 30-second poll.
        (delivery,) = receiver.wait_for(1, timeout=10)
        assert time.monotonic() - started < 10
        assert created([delivery]) == [["r1"]]
    finally:
        thread = dispatcher_module._server_thread
        dispatcher_module.stop_in_server()
    assert not thread.is_alive()


def test_an_unexpected_listener_error_is_a_failed_delivery(
    api, webhook, receiver, dispatcher, clock, monkeypatch
):
    from kinto_django.notifications.outbox.sinks import Webhook

    deliver = Webhook.deliver

    def broken(self, event_id, body, attempt):
        if b'"r1"' in body:
            raise ValueError("a bug")
        deliver(self, event_id, body, attempt)

    monkeypatch.setattr(Webhook, "deliver", broken)
    factories.collection(api)
    factories.collection(api, collection_id="other", create_bucket=False)
    write(api, "r1")
    write(api, "x1", collection_id="other")
    assert dispatcher.drain() == 1
    assert created(receiver.deliveries) == [["x1"]]
    (entry,) = OutboxEntry.objects.pending()
    assert (entry.attempts, entry.last_error) == (1, "ValueError: a bug")


def test_the_loop_outlives_a_database_error(transactional_db, monkeypatch):
    from django.db import OperationalError

    calls = []

    def run_once(self):
        calls.append(len(calls))
        if len(calls) == 1:
            raise OperationalError("the database restarted")
        if len(calls) == 3:
            self.stop()
            return 0
        return 1

    monkeypatch.setattr(Dispatcher, "run_once", run_once)
    looping = Dispatcher()
    looping.lease.expires = time.time() + 60
    looping.run_forever()
    assert calls == [0, 1, 2]
    assert looping.lease.expires == 0.0  # forgotten after the error, released at the end


@pytest.mark.parametrize("refusing", [True, False])
def test_a_failing_webhook_is_named_by_scheme_host_and_port_only(
    api, kinto_settings, receiver, dispatcher, caplog, refusing
):
    """A webhook URL often carries a token (in its path, query or userinfo): neither the
    logs nor the outbox keep more than where the receiver is."""
    from urllib.parse import urlsplit

    address = urlsplit(receiver.url)
    url = f"http://hook:pw-SECRET@{address.hostname}:{address.port}/hooks/TOKEN-SECRET?k=SECRET"
    kinto_settings(
        event_listeners="hook",
        event_listeners_hook_use="webhook",
        event_listeners_hook_url=url,
        event_listeners_hook_secret=SECRET,
        event_listeners_hook_resources="record",
        event_listeners_hook_timeout_seconds=2,
    )
    if refusing:
        receiver.answer = lambda message: 500
    else:
        receiver.stop()
    factories.collection(api)
    write(api, "r1")
    assert dispatcher.drain() == 0
    (entry,) = OutboxEntry.objects.pending()
    assert entry.last_error.startswith(f"http://{address.hostname}:{address.port} ")
    assert "SECRET" not in entry.last_error
    assert "SECRET" not in caplog.text
