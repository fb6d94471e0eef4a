"""The live feed (`/v1/changes`) carries attachment uploads and removals like any record
write: a subscriber of the records sees the record with its `attachment`."""

from __future__ import annotations

from tests import factories
from tests.attachments.conftest import ATTACHMENT, upload
from tests.notifications.conftest import live  # noqa: F401  (the fixture)


def test_subscribers_see_uploads_and_removals(live, api, files_dir):  # noqa: F811
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        subscribed = await client.subscribe(factories.RECORDS, "files")
        assert subscribed["type"] == "subscribed"
        created = await live.call(upload, api)
        assert created.status == 201
        await live.call(api.delete, ATTACHMENT)
        first, second = await client.changes(2)
        assert (first["action"], first["id"]) == ("create", "r1")
        assert first["data"]["attachment"] == created.json
        assert second["action"] == "update"
        assert second["data"]["attachment"] is None
        await client.close()

    live.run(scenario)
