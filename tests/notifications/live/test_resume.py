"""Resuming with `since`: the database replay, then live changes, without gap or duplicate."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client as DjangoClient

from kinto_django.notifications.live import subscriptions
from tests import factories
from tests.conftest import Api

RECORDS = factories.RECORDS


def test_replay_sends_changes_after_since_with_tombstones_then_live(live, api):
    factories.collection(api)
    first = factories.record(api, {"n": 1}, record_id="old")
    factories.record(api, {"n": 2}, record_id="kept")
    factories.record(api, {"n": 3}, record_id="gone")
    api.delete(f"{RECORDS}/gone")

    async def scenario():
        client = await live.connect("alice")
        subscribed = await client.subscribe(RECORDS, since=first["last_modified"])
        assert subscribed["type"] == "subscribed"
        kept, gone = await client.changes(2)
        assert (kept["id"], kept["action"], kept["replayed"]) == ("kept", "update", True)
        assert kept["data"]["n"] == 2
        assert (gone["id"], gone["action"]) == ("gone", "delete")
        assert gone["data"] == {"id": "gone", "last_modified": gone["timestamp"], "deleted": True}
        replayed = await client.receive()
        assert replayed == {
            "type": "replayed",
            "subscription": "s",
            "timestamp": gone["timestamp"],
        }
        await live.call(factories.record, api, {"n": 4}, record_id="new")
        (new,) = await client.changes(1)
        assert (new["id"], new["action"]) == ("new", "create")
        assert "replayed" not in new
        await client.close()

    live.run(scenario)


def test_replay_applies_the_filters(live, api):
    factories.collection(api)
    factories.record(api, {"status": "paid"}, record_id="a")
    factories.record(api, {"status": "open"}, record_id="b")

    async def scenario():
        client = await live.connect("alice")
        await client.subscribe(RECORDS, since=0, filters={"status": "paid"})
        (change,) = await client.changes(1)
        assert change["id"] == "a"
        assert (await client.receive())["type"] == "replayed"
        await client.close()

    live.run(scenario)


def writes(client: Api, start: int, stop: int) -> None:
    """Creates, and along the way deletes and updates older records."""
    for n in range(start, stop):
        factories.record(client, {"n": n}, record_id=f"r{n:02d}")
        if n % 5 == 0:
            assert client.delete(f"{RECORDS}/r{n - 10:02d}").status == 200
        if n % 7 == 0:
            assert client.patch(f"{RECORDS}/r{n - 3:02d}", {"data": {"x": 1}}).status == 200


def assert_each_change_once(api, since, received):
    pairs = [(change["id"], change["timestamp"]) for change in received]
    assert len(pairs) == len(set(pairs)), "a change was sent twice"
    stored = api.get(f"{RECORDS}?_since={since}").data
    # Every change after `since` (latest versions, tombstones included) arrived.
    assert {(obj["id"], obj["last_modified"]) for obj in stored} <= set(pairs)
    timestamps = [timestamp for _, timestamp in pairs]
    assert timestamps == sorted(timestamps)


async def collect(client):
    received = []
    while not await client.nothing(2):
        message = await client.receive()
        assert message["type"] in ("subscribed", "change", "replayed"), message
        if message["type"] == "change":
            received.append(message)
    return received


def test_no_gap_and_no_duplicate_with_writes_between_replay_pages(
    live, api, kinto_settings, monkeypatch
):
    """Writes committed between the replay's queries (and so, live, while it runs)."""
    kinto_settings(live_replay_page_size=3)
    factories.collection(api)
    since = factories.record(api, {"n": 0}, record_id="r00")["last_modified"]
    for n in range(1, 15):
        factories.record(api, {"n": n}, record_id=f"r{n:02d}")
    pending = iter(range(15, 45, 3))
    real_page = subscriptions.replay_page

    def page_then_write(*args):
        page = real_page(*args)
        start = next(pending, None)
        if start is not None:
            writes(Api(DjangoClient(), user="alice"), start, start + 3)
        return page

    monkeypatch.setattr(subscriptions, "replay_page", page_then_write)

    async def scenario():
        client = await live.connect("alice")
        await client.subscribe(RECORDS, since=since)
        received = await collect(client)
        await client.close()
        return received

    assert_each_change_once(api, since, live.run(scenario))


@pytest.mark.postgresql
def test_no_gap_and_no_duplicate_while_another_thread_writes(live, api, kinto_settings):
    """The same, with a real concurrent writer. PostgreSQL only: the SQLite test database
    is a shared-cache in-memory database, whose table locks fail concurrent readers
    (`database table is locked`) instead of waiting as a database file does."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database cannot serve concurrent threads")
    # Small pages: the replay takes many queries, while another thread keeps writing.
    kinto_settings(live_replay_page_size=3)
    factories.collection(api)
    since = factories.record(api, {"n": 0}, record_id="r00")["last_modified"]
    for n in range(1, 15):
        factories.record(api, {"n": n}, record_id=f"r{n:02d}")
    started = threading.Event()

    def write() -> None:
        try:
            started.wait(5)
            writes(Api(DjangoClient(), user="alice"), 15, 45)
        finally:
            connection.close()

    async def scenario():
        client = await live.connect("alice")
        thread = threading.Thread(target=write)
        thread.start()
        started.set()
        await client.subscribe(RECORDS, since=since)
        received = await collect(client)
        await live.call(thread.join)
        await client.close()
        return received

    assert_each_change_once(api, since, live.run(scenario))
