"""Delivery cost does not grow with subscribers: one decision per event and process."""

from __future__ import annotations

import asyncio

from django.db import connection
from django.test.utils import CaptureQueriesContext

from kinto_django import jsonutil
from kinto_django.notifications.live import access, connections, hub
from tests import factories

RECORDS = factories.RECORDS


def warm_up_permission_ids(api):
    """The ids of ACL permissions are read once per process, then cached."""
    record = factories.record(api, {}, record_id="warm-up")
    payload = {"resource_name": "record", "bucket_id": "shop", "collection_id": "orders"}
    access.readers_of(payload, [{"new": record}])


def test_one_decision_of_three_queries_per_event_whatever_the_subscribers(live, api, monkeypatch):
    factories.collection(api, permissions={"read": ["system.Authenticated"]})
    queries: list[int] = []
    real_decide = hub.decide

    def counted_decide(event_text):
        with CaptureQueriesContext(connection) as captured:
            decided = real_decide(event_text)
        queries.append(len(captured))
        return decided

    monkeypatch.setattr(hub, "decide", counted_decide)
    warm_up_permission_ids(api)

    async def scenario():
        clients = [await live.connect(f"user{n}") for n in range(40)]
        for client in clients:
            assert (await client.subscribe(RECORDS))["type"] == "subscribed"
        batch = {
            "defaults": {"method": "POST", "path": RECORDS},
            "requests": [{"body": {"data": {"n": n}}} for n in range(10)],
        }
        assert (await live.call(api.post, "/batch", batch)).status == 200
        await live.call(factories.record, api, {"n": 10})
        for client in clients:
            assert len(await client.changes(11)) == 11
            await client.close()

    live.run(scenario)
    # Two events (the batch's merged creates, one create): each decided once, in three
    # queries (parents, the objects' keys, every ACL), for the forty subscribers.
    assert queries == [3, 3]


def test_readers_of_many_objects_in_three_queries(api, django_assert_num_queries):
    bob = api.as_user("bob").get("/").json["user"]["id"]
    factories.collection(api)
    records = [factories.record(api, {"n": n}, record_id=f"r{n}") for n in range(20)]
    api.patch(f"{RECORDS}/r3", {"permissions": {"read": [bob]}})
    payload = {"resource_name": "record", "bucket_id": "shop", "collection_id": "orders"}
    impacted = [{"new": record} for record in records]
    warm_up_permission_ids(api)
    with django_assert_num_queries(3):
        readers = access.readers_of(payload, impacted)
    from kinto_django.permissions.service import identity_for_user_id

    alice = identity_for_user_id(api.get("/").json["user"]["id"])
    bob_identity = identity_for_user_id(bob)
    assert all(readers.allows(alice, i) for i in range(20))
    assert [i for i in range(20) if readers.allows(bob_identity, i)] == [3]


def test_a_client_too_slow_to_read_is_dropped_not_buffered(kinto_settings):
    kinto_settings(live_send_queue_size=2)
    dropped = []

    class Connection(connections.LiveConnection):
        def on_overflow(self):
            dropped.append(True)

    from kinto_django.permissions.identity import ANONYMOUS

    connection = Connection(ANONYMOUS)
    for n in range(5):
        connection.push(f'{{"n":{n}}}')
    assert connection.overflowed and dropped == [True]
    # What waited is dropped at once: the client is disconnected and resumes with `since`.
    assert len(connection.queue) == 0 and connection.queue.bytes == 0


def connection_with_subscriptions(count):
    from kinto_django.notifications.live.subscriptions import Target
    from kinto_django.permissions.identity import ANONYMOUS

    class Connection(connections.LiveConnection):
        dropped = 0

        def on_overflow(self):
            self.dropped += 1

    connection = Connection(ANONYMOUS)
    target = Target(RECORDS, "record-plural", "shop", "orders")
    for n in range(count):
        subscription = connections.Subscription(connection, f"s{n}", target)
        connection.subscriptions[subscription.id] = subscription
    return connection


def test_a_change_for_many_subscriptions_of_a_connection_is_held_once(kinto_settings):
    """Twenty subscriptions of one idle socket to one list: a 2 MiB change is held once
    for the connection, not once per subscription."""
    kinto_settings(live_send_queue_bytes=8 * 1024 * 1024)
    connection = connection_with_subscriptions(20)
    body = connections.change_body({"id": "r1", "timestamp": 1, "data": {"x": "y" * 2**21}})
    for subscription in connection.subscriptions.values():
        subscription.offer(1, body)
    assert len(connection.queue) == 20 and not connection.overflowed
    assert 2**21 < connection.queue.bytes < 2**21 + 20 * 1024

    async def drain():
        return [await connection.queue.get() for _ in range(20)]

    sent = asyncio.run(drain())
    assert [jsonutil.loads(text)["subscription"] for text, _ in sent] == [
        f"s{n}" for n in range(20)
    ]
    assert jsonutil.loads(sent[0][0])["data"]["x"] == "y" * 2**21
    assert connection.queue.bytes == 0


def test_the_send_queue_is_bounded_in_bytes(kinto_settings):
    kinto_settings(live_send_queue_bytes=3 * 1024 * 1024, live_send_queue_size=5000)
    connection = connection_with_subscriptions(1)
    subscription = connection.subscriptions["s0"]
    for n in range(1, 4):
        body = connections.change_body({"id": f"r{n}", "timestamp": n, "data": "z" * 2**20})
        subscription.offer(n, body)
    # Three changes of 1 MiB do not fit in 3 MiB (with their JSON around them).
    assert connection.overflowed and connection.dropped == 1
    assert len(connection.queue) == 0 and connection.queue.bytes == 0


def test_a_replay_buffer_counts_against_the_same_budget(kinto_settings):
    kinto_settings(live_send_queue_bytes=2 * 1024 * 1024)
    connection = connection_with_subscriptions(1)
    subscription = connection.subscriptions["s0"]
    subscription.replaying = True
    first = connections.change_body({"id": "a", "timestamp": 1, "data": "z" * 2**20})
    subscription.offer(1, first)
    assert connection.queue.bytes > 2**20 and not connection.overflowed
    subscription.offer(
        2, connections.change_body({"id": "b", "timestamp": 2, "data": "z" * 2**20})
    )
    assert connection.overflowed and subscription.buffer == []
    assert connection.queue.bytes == 0


def test_closing_a_connection_releases_what_waited_for_it(kinto_settings):
    connection = connection_with_subscriptions(2)
    first, second = connection.subscriptions.values()
    second.replaying = True
    body = connections.change_body({"id": "a", "timestamp": 1, "data": "z" * 1000})
    first.offer(1, body)
    second.offer(1, body)
    assert connection.queue.bytes > 1000
    connection.release_memory()
    assert len(connection.queue) == 0 and connection.queue.bytes == 0
    assert second.buffer == [] and first.closed and second.closed


def test_the_hub_keeps_few_decided_events_in_bytes(live):
    from kinto_django.notifications.live.access import Readers

    async def scenario():
        process_hub = hub.get_hub()
        for n in range(10):
            event = hub.DecidedEvent({}, [], Readers.__new__(Readers), size=2**21)
            process_hub.remember(f"e{n}", event)
        assert process_hub.decided_bytes <= hub.DECIDED_BYTES
        assert list(process_hub.decided) == ["e8", "e9"]
        big = hub.DecidedEvent({}, [], Readers.__new__(Readers), size=2**24)
        process_hub.remember("big", big)
        assert list(process_hub.decided) == ["big"]  # the newest is kept, whatever its size

    live.run(scenario)
