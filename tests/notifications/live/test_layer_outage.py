"""The channel layer failing (Redis down or restarted): live clients are told to reconnect and
resume instead of staying connected to a feed that lost changes, and the hub joins its groups
again as soon as the layer answers, whatever failed meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from kinto_django.notifications.live import hub as hub_module
from kinto_django.notifications.live.hub import get_hub
from tests import factories
from tests.notifications.conftest import TIMEOUT

RECORDS = "/buckets/shop/collections/orders/records"


class RedisSwitch:
    """The layer's `group_add` fails while `down` (set at first), as with Redis stopped."""

    def __init__(self, layer, monkeypatch) -> None:
        self.down = True
        group_add = layer.group_add

        async def flaky(group, channel):
            if self.down:
                raise ConnectionError("Redis is down")
            await group_add(group, channel)

        monkeypatch.setattr(layer, "group_add", flaky)


async def close_code(client) -> int:
    while True:
        message = await client.communicator.receive_output(TIMEOUT)
        if message["type"] == "websocket.close":
            return message["code"]


def test_a_change_that_cannot_be_broadcast_closes_the_live_connections(live, api, monkeypatch):
    """Nobody hears a change whose broadcast failed: its subscribers are closed with 1012,
    reconnect with `since`, and get it from the database."""
    factories.collection(api)
    monkeypatch.setattr(hub_module, "LAYER_RETRY_SECONDS", 0.05)

    async def scenario():
        client = await live.connect("alice")
        subscribed = await client.subscribe(RECORDS, "orders")
        layer = get_channel_layer()
        group_send = layer.group_send

        async def down(*args, **kwargs):
            raise ConnectionError("Redis is down")

        monkeypatch.setattr(layer, "group_send", down)
        record = await live.call(factories.record, api, {"item": "lamp"}, record_id="r1")
        assert await close_code(client) == 1012
        monkeypatch.setattr(layer, "group_send", group_send)
        # Subscribing is refused until the process joined its groups again.
        await asyncio.wait_for(get_hub().feed_up.wait(), TIMEOUT)

        again = await live.connect("alice")
        await again.subscribe(RECORDS, "orders", since=subscribed["timestamp"])
        (replayed,) = await again.changes(1)
        assert replayed["id"] == "r1" and replayed["timestamp"] == record["last_modified"]
        await again.close()

    live.run(scenario)


def test_groups_are_joined_again_once_the_layer_answers(live, api, monkeypatch):
    factories.collection(api)
    monkeypatch.setattr(hub_module, "LAYER_RETRY_SECONDS", 0.01)

    async def scenario():
        client = await live.connect("alice")
        await client.subscribe(RECORDS, "orders")
        hub = get_hub()
        layer = hub.layer
        group_add = layer.group_add
        attempts = []

        async def flaky(group, channel):
            attempts.append(group)
            if len(attempts) <= 2:
                raise ConnectionError("Redis is down")
            await group_add(group, channel)

        monkeypatch.setattr(layer, "group_add", flaky)
        await asyncio.wait_for(hub.rejoin(), TIMEOUT)
        # Two failed attempts, then every group of the process joined again.
        assert set(attempts[2:]) == hub.joined and len(attempts) == 2 + len(hub.joined)
        await client.close()

    live.run(scenario)


def test_a_failed_refresh_does_not_end_the_refreshes(live, api, monkeypatch, kinto_settings):
    kinto_settings(live_group_refresh_seconds=0.02)
    factories.collection(api)

    async def scenario():
        layer = get_channel_layer()
        group_add = layer.group_add
        calls = []

        async def flaky(group, channel):
            calls.append(group)
            if len(calls) == 1:
                raise ConnectionError("Redis is down")
            await group_add(group, channel)

        client = await live.connect("alice")
        await client.subscribe(RECORDS, "orders")
        monkeypatch.setattr(layer, "group_add", flaky)
        await asyncio.sleep(0.3)
        assert len(calls) > 3  # refreshed again after the failure
        await client.close()

    live.run(scenario)


@pytest.mark.postgresql
def test_the_connections_pool_gives_its_database_connections_back(live, api):
    """Handshakes and replays come in bursts: once the pool is idle, its threads hold no
    database connection (a server short of connection slots must recover once load drops);
    the hub's one thread keeps its own."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("Django never closes SQLite's in-memory test database")
    from kinto_django.notifications.live.runtime import CONNECTION_THREADS, run_db
    from kinto_django.notifications.live.runtime import release_idle_connections as release

    def used() -> bool:
        connection.ensure_connection()
        return connection.connection is not None

    def still_open() -> bool:
        return connection.connection is not None

    async def scenario():
        # Every thread of the pool opens a connection, at once.
        assert all(await asyncio.gather(*(run_db("connections", used) for _ in range(8))))
        assert await run_db("hub", used)
        assert await asyncio.to_thread(release)
        await asyncio.sleep(0.2)
        held = await asyncio.gather(
            *(run_db("connections", still_open) for _ in range(CONNECTION_THREADS))
        )
        assert not any(held)
        assert await run_db("hub", still_open)

    live.run(scenario)


def test_a_hub_that_could_not_start_starts_when_the_layer_is_back(live, api, monkeypatch):
    """The first connection of a process arrived while the layer was down: its hub could
    open no channel group. Subscribing then answers 503 while the layer is down, and once it
    is back, subscribing starts the hub for good: changes are delivered."""
    factories.collection(api)

    async def scenario():
        redis = RedisSwitch(get_channel_layer(), monkeypatch)
        client = await live.connect("alice")
        refused = await client.subscribe(RECORDS, "orders")
        assert refused["type"] == "error" and refused["error"]["code"] == 503, refused
        redis.down = False
        subscribed = await client.subscribe(RECORDS, "orders")
        assert subscribed["type"] == "subscribed", subscribed
        await live.call(factories.record, api, {"item": "lamp"}, record_id="r1")
        (change,) = await client.changes(1)
        assert change["id"] == "r1"
        await client.close()

    live.run(scenario)


def test_subscribing_waits_for_the_groups_to_be_joined_again(live, api, monkeypatch):
    """After the layer failed, Redis may have restarted and forgotten this process's groups:
    a subscription accepted before they are joined again could miss changes while its
    client believes it follows them. It is refused (503) until then."""
    factories.collection(api)
    monkeypatch.setattr(hub_module, "LAYER_RETRY_SECONDS", 0.05)

    async def scenario():
        first = await live.connect("alice")
        await first.subscribe(RECORDS, "orders")
        hub = get_hub()
        redis = RedisSwitch(hub.layer, monkeypatch)
        hub.feed_lost()
        assert await close_code(first) == 1012
        client = await live.connect("alice")
        refused = await client.subscribe(RECORDS, "orders")
        assert refused["type"] == "error" and refused["error"]["code"] == 503, refused
        redis.down = False
        await asyncio.wait_for(hub.feed_up.wait(), TIMEOUT)
        subscribed = await client.subscribe(RECORDS, "orders")
        assert subscribed["type"] == "subscribed", subscribed
        await client.close()

    live.run(scenario)
