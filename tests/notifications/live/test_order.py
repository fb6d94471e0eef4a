"""Changes of one list are delivered in timestamp order, whatever order their events arrive
in (two writes committed a moment apart by two processes may be published the other way)."""

from __future__ import annotations

from kinto_django.notifications.live import broadcast
from kinto_django.notifications.live.runtime import publisher
from tests import factories

RECORDS = factories.RECORDS


class HeldBack:
    """Keeps the broadcasts of the writes made meanwhile, to publish them in any order."""

    def __init__(self, monkeypatch) -> None:
        self.held: list[tuple] = []
        monkeypatch.setattr(broadcast, "publisher", self)

    def publish(self, group_names, message) -> None:
        self.held.append((group_names, message))

    def release(self, *indexes: int) -> None:
        for index in indexes:
            publisher.publish(*self.held[index])


def test_an_event_arriving_first_waits_for_the_earlier_ones(live, api, monkeypatch):
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        await client.subscribe(RECORDS)
        await live.call(factories.record, api, {"n": 0}, record_id="r0")
        (first,) = await client.changes(1)
        held = HeldBack(monkeypatch)
        for n in (1, 2, 3):
            await live.call(factories.record, api, {"n": n}, record_id=f"r{n}")
        held.release(2)  # r3's event arrives first: r1 and r2 are committed, not heard yet
        assert await client.nothing(0.3)
        held.release(0)  # r1: delivered at once, r3 still waits for r2
        (r1,) = await client.changes(1)
        assert r1["id"] == "r1"
        assert await client.nothing(0.3)
        held.release(1)
        r2, r3 = await client.changes(2)
        assert [r2["id"], r3["id"]] == ["r2", "r3"]
        assert first["timestamp"] < r1["timestamp"] < r2["timestamp"] < r3["timestamp"]
        await client.close()

    live.run(scenario)


def test_a_change_whose_event_is_late_is_read_back_in_its_place(
    live, api, monkeypatch, kinto_settings
):
    kinto_settings(live_order_wait_seconds=0.5)
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        await client.subscribe(RECORDS)
        await live.call(factories.record, api, {"n": 0}, record_id="r0")
        await client.changes(1)
        held = HeldBack(monkeypatch)
        for n in (1, 2):
            await live.call(factories.record, api, {"n": n}, record_id=f"r{n}")
        held.release(1)  # r1's event is late (its sender stalled, or died after the commit)
        assert await client.nothing(0.2)
        # Once the wait is over, r1 is read back from the database and comes first (as a
        # replayed change: an `update`), so that a client resuming after r2 misses nothing.
        r1, r2 = await client.changes(2)
        assert [r1["id"], r2["id"]] == ["r1", "r2"]
        assert r1["replayed"] is True and r1["action"] == "update"
        assert r1["data"]["n"] == 1 and r1["timestamp"] < r2["timestamp"]
        assert "replayed" not in r2
        # r1's event coming after all is not delivered twice.
        held.release(0)
        assert await client.nothing(0.5)
        await live.call(factories.record, api, {"n": 3}, record_id="r3")
        held.release(2)
        (r3,) = await client.changes(1)
        assert r3["id"] == "r3"
        await client.close()

    live.run(scenario)


def test_a_lists_first_change_waits_for_an_earlier_one_still_on_its_way(live, api, monkeypatch):
    """The first change of a list heard since the subscription is checked too: two writes
    committed a moment apart, published the other way round, arrive in timestamp order."""
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        await client.subscribe(RECORDS)
        held = HeldBack(monkeypatch)
        for n in (1, 2):
            await live.call(factories.record, api, {"n": n}, record_id=f"r{n}")
        held.release(1)  # r2 first: r1 is committed, not heard yet
        assert await client.nothing(0.3)
        held.release(0)
        r1, r2 = await client.changes(2)
        assert [r1["id"], r2["id"]] == ["r1", "r2"]
        assert r1["timestamp"] < r2["timestamp"]
        await client.close()

    live.run(scenario)
