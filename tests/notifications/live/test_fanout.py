"""Delivery cost does not grow with subscribers: one decision per event and process."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

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
    assert connection.queue.qsize() == 2
