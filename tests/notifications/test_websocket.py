"""Subscribing over WebSocket and receiving changes (in-memory layer, one process)."""

from __future__ import annotations

from tests import factories

RECORDS = factories.RECORDS


def test_subscriber_receives_created_updated_and_deleted_records(live, api):
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        subscribed = await client.subscribe(RECORDS, "orders")
        assert subscribed["type"] == "subscribed"
        assert subscribed["resource"] == RECORDS
        record = await live.call(factories.record, api, {"item": "lamp"}, record_id="r1")
        await live.call(api.patch, f"{RECORDS}/r1", {"data": {"qty": 2}})
        await live.call(api.delete, f"{RECORDS}/r1")
        created, updated, deleted = await client.changes(3)
        assert created == {
            "subscription": "orders",
            "type": "change",
            "action": "create",
            "resource_name": "record",
            "bucket_id": "shop",
            "collection_id": "orders",
            "id": "r1",
            "timestamp": record["last_modified"],
            "data": record,
        }
        assert updated["action"] == "update"
        assert updated["data"]["qty"] == 2 and updated["data"]["item"] == "lamp"
        assert deleted["action"] == "delete"
        assert deleted["data"] == {
            "id": "r1",
            "last_modified": deleted["timestamp"],
            "deleted": True,
        }
        await client.close()

    live.run(scenario)
