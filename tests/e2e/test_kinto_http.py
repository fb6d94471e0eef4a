"""The official `kinto-http` Python client against the real server (gunicorn, gthread workers).

The server pages lists by 5 (`paginate_by`), so most lists here span several pages and the
client has to follow `Next-Page` to see everything.
"""

from __future__ import annotations

import pytest
import requests
from kinto_http import Client, KintoException
from kinto_http.exceptions import KintoBatchException

from tests.e2e.conftest import PAGINATE_BY, USER

pytestmark = pytest.mark.e2e


def fresh(client: Client) -> Client:
    """Another client on the same bucket and collection, without cached timestamps."""
    return Client(
        server_url=client.session.server_url,
        auth=USER,
        bucket=client.bucket_name,
        collection=client.collection_name,
    )


def status_of(error: KintoException) -> int:
    return error.response.status_code


def test_server_info_and_heartbeat(server, client):
    heartbeat = requests.get(f"{server.url}/__heartbeat__", timeout=10)
    assert heartbeat.status_code == 200
    assert all(value is not False for value in heartbeat.json().values())
    info = client.server_info()
    assert info["http_api_version"] == "1.23"
    assert info["settings"]["batch_max_requests"] == 25
    assert info["user"]["id"].startswith("basicauth:")
    # The real server answers from several worker processes: all of them see one database.
    assert {client.get_bucket()["data"]["id"] for _ in range(10)} == {client.bucket_name}


def test_create_bucket_collection_and_records(client):
    bucket = client.get_bucket()
    assert bucket["data"]["id"] == client.bucket_name
    assert bucket["permissions"]["write"] == [client.server_info()["user"]["id"]]
    collection = client.get_collection()
    assert collection["data"]["id"] == "tasks"

    created = client.create_record(data={"title": "one", "done": False})
    assert created["data"]["title"] == "one"
    fetched = client.get_record(id=created["data"]["id"])
    assert fetched["data"] == created["data"]

    second = client.create_record(id="task-2", data={"title": "two"})
    assert second["data"]["id"] == "task-2"
    assert second["data"]["last_modified"] > created["data"]["last_modified"]
    records = client.get_records()
    assert [r["id"] for r in records] == ["task-2", created["data"]["id"]]


def test_get_records_follows_next_page(client):
    with client.batch() as batch:
        for index in range(12):
            batch.create_record(id=f"r{index:02d}", data={"n": index})

    records = client.get_records()
    assert len(records) == 12
    # Default order is newest first; every page continued where the previous one ended.
    assert [r["n"] for r in records] == list(range(11, -1, -1))
    pages = [page["data"] for page in client.get_paginated_records()]
    assert [len(page) for page in pages] == [PAGINATE_BY, PAGINATE_BY, 2]
    assert [r["n"] for page in pages for r in page] == list(range(11, -1, -1))

    ascending = client.get_records(_sort="n")
    assert [r["n"] for r in ascending] == list(range(12))
    filtered = client.get_records(gt_n=3, _sort="-n")
    assert [r["n"] for r in filtered] == list(range(11, 3, -1))


def test_limit_returns_one_page_unless_asked_for_more(client):
    with client.batch() as batch:
        for index in range(7):
            batch.create_record(id=f"r{index}", data={"n": index})

    first_page = client.get_records(_limit=3, _sort="n")
    assert [r["n"] for r in first_page] == [0, 1, 2]
    everything = client.get_records(_limit=3, _sort="n", pages=float("inf"))
    assert [r["n"] for r in everything] == list(range(7))
    # paginate_by caps a larger _limit.
    capped = client.get_records(_limit=50, _sort="n")
    assert [r["n"] for r in capped] == list(range(PAGINATE_BY))


def test_sync_with_since(client):
    for index in range(3):
        client.create_record(id=f"r{index}", data={"n": index})
    since = fresh(client).get_records_timestamp()
    assert int(since) == client.get_record(id="r2")["data"]["last_modified"]

    assert client.get_records(_since=since) == []
    client.patch_record(id="r0", data={"n": 10})
    client.create_record(id="r3", data={"n": 3})
    changes = client.get_records(_since=since)
    assert [r["id"] for r in changes] == ["r3", "r0"]
    assert changes[1]["n"] == 10

    # The list ETag seen by get_records becomes the next `_since`.
    latest = client.get_records_timestamp()
    assert int(latest) == changes[0]["last_modified"]
    assert client.get_records(_since=latest) == []
    # A quoted ETag is accepted as `_since` too.
    assert [r["id"] for r in client.get_records(_since=f'"{since}"')] == ["r3", "r0"]


def test_if_none_match_on_list_gives_no_change(client):
    client.create_record(id="r0", data={"n": 0})
    timestamp = fresh(client).get_records_timestamp()
    assert client.get_records(if_none_match=timestamp) == []
    client.create_record(id="r1", data={"n": 1})
    assert [r["id"] for r in client.get_records(if_none_match=timestamp)] == ["r1", "r0"]


def test_safe_update_with_stale_timestamp_is_refused(client):
    original = client.create_record(id="doc", data={"title": "draft"})["data"]
    updated = client.update_record(data={**original, "title": "final"})["data"]
    assert updated["last_modified"] > original["last_modified"]

    # `original` still carries its old last_modified: sent as If-Match, it no longer matches.
    with pytest.raises(KintoException) as refused:
        client.update_record(data={**original, "title": "stale"}, safe=True)
    assert status_of(refused.value) == 412
    body = refused.value.response.json()
    assert body["errno"] == 114
    assert body["details"]["existing"]["title"] == "final"
    assert body["details"]["existing"]["last_modified"] == updated["last_modified"]

    with pytest.raises(KintoException) as refused:
        client.patch_record(id="doc", data={"title": "stale"}, if_match=original["last_modified"])
    assert status_of(refused.value) == 412
    with pytest.raises(KintoException) as refused:
        client.delete_record(id="doc", if_match=original["last_modified"])
    assert status_of(refused.value) == 412
    assert client.get_record(id="doc")["data"]["title"] == "final"

    # Unsafe writes overwrite; a matching If-Match is accepted.
    forced = client.update_record(data={**original, "title": "forced"}, safe=False)["data"]
    assert forced["title"] == "forced"
    patched = client.patch_record(id="doc", data={"n": 1}, if_match=forced["last_modified"])
    assert patched["data"] == {**forced, "n": 1, "last_modified": patched["data"]["last_modified"]}


def test_safe_creation_does_not_overwrite(client):
    client.create_record(id="once", data={"v": 1})
    with pytest.raises(KintoException) as refused:
        client.create_record(id="once", data={"v": 2})
    assert status_of(refused.value) == 412
    existing = client.create_record(id="once", data={"v": 3}, if_not_exists=True)
    assert existing["data"]["v"] == 1

    with pytest.raises(KintoException) as refused:
        client.create_collection(id="tasks")
    assert status_of(refused.value) == 412
    assert client.create_collection(id="tasks", if_not_exists=True)["data"]["id"] == "tasks"


def test_batch(client):
    before = int(fresh(client).get_records_timestamp())
    with client.batch() as batch:
        for index in range(30):  # more than batch_max_requests: sent as two /batch calls
            batch.create_record(id=f"r{index:02d}", data={"n": index})
        batch.patch_record(id="r00", data={"patched": True})
    results = batch.results()
    assert len(results) == 31
    timestamps = [body["data"]["last_modified"] for body in results]
    assert timestamps == sorted(timestamps)
    assert len(set(timestamps)) == 31
    assert timestamps[0] > before
    assert results[-1]["data"] == {**results[0]["data"], "patched": True} | {
        "last_modified": timestamps[-1]
    }
    assert len(client.get_records()) == 30


def test_batch_with_a_failing_request(client):
    client.create_record(id="taken", data={})
    with pytest.raises(KintoBatchException) as failed:
        with client.batch() as batch:
            batch.create_record(id="new", data={"n": 1})
            batch.create_record(id="taken", data={"n": 2})  # If-None-Match: * → 412
    assert [status_of(error) for error in failed.value.exceptions] == [412]
    # Each sub-request is on its own: the successful one stays.
    assert sorted(r["id"] for r in client.get_records()) == ["new", "taken"]


def test_batch_can_create_the_containers(server):
    client = Client(server_url=server.url, auth=USER, bucket="made-in-one-go", collection="things")
    with client.batch() as batch:
        batch.create_bucket(id="made-in-one-go", if_not_exists=True)
        batch.create_collection(id="things")
        batch.create_record(id="thing", data={"ok": True})
    statuses = [body["data"]["id"] for body in batch.results()]
    assert statuses == ["made-in-one-go", "things", "thing"]
    assert client.get_record(id="thing")["data"]["ok"] is True
    client.delete_bucket(id="made-in-one-go")
    with pytest.raises(KintoException) as missing:
        client.get_record(id="thing")
    assert status_of(missing.value) in (403, 404)


def test_deletions_leave_tombstones_seen_with_since(client):
    for index in range(8):
        client.create_record(id=f"r{index}", data={"n": index})
    since = fresh(client).get_records_timestamp()

    deleted = client.delete_record(id="r3")
    assert deleted["deleted"] is True
    assert deleted["id"] == "r3"
    assert deleted["last_modified"] > int(since)

    alive = client.get_records()
    assert "r3" not in {r["id"] for r in alive}
    assert len(alive) == 7
    changes = client.get_records(_since=since)
    assert changes == [deleted]
    with pytest.raises(KintoException) as gone:
        client.get_record(id="r3")
    assert status_of(gone.value) == 404
    with pytest.raises(KintoException) as gone:
        client.delete_record(id="r3")
    assert status_of(gone.value) == 404
    assert client.delete_record(id="r3", if_exists=True) is None

    # Deleting the whole list pages too: paginate_by 5, 7 records.
    removed = client.delete_records()
    assert len(removed) == PAGINATE_BY
    removed += client.delete_records()
    assert len(removed) == 7 and all(r["deleted"] for r in removed)
    assert client.get_records() == []
    tombstones = client.get_records(_since=since)
    assert sorted(r["id"] for r in tombstones) == sorted(f"r{i}" for i in range(8))
    assert all(set(r) == {"id", "last_modified", "deleted"} for r in tombstones)
    latest = fresh(client).get_records_timestamp()
    assert int(latest) == max(r["last_modified"] for r in tombstones)

    # Re-creating a deleted id is a creation.
    again = client.create_record(id="r3", data={"n": "again"})
    assert again["data"]["last_modified"] > int(latest)
    assert client.get_records(_since=latest) == [again["data"]]


def test_get_records_timestamp_follows_writes(client):
    reader = fresh(client)
    empty = reader.get_records_timestamp()
    assert empty.isdigit()
    # A never-written list keeps the timestamp its first read fixed.
    assert fresh(client).get_records_timestamp() == empty
    record = client.create_record(data={"n": 1})["data"]
    current = fresh(client).get_records_timestamp()
    assert int(current) == record["last_modified"] > int(empty)
    # Writing records does not touch the collection's own timestamp, and vice versa.
    collection = client.get_collection()["data"]
    assert collection["last_modified"] < record["last_modified"]
    client.patch_collection(id="tasks", data={"title": "Tasks"})
    assert fresh(client).get_records_timestamp() == current


def test_permissions_between_users(server, client):
    bob = Client(server_url=server.url, auth=("bob", "secret"), bucket=client.bucket_name)
    with pytest.raises(KintoException) as denied:
        bob.get_records(collection="tasks")
    assert status_of(denied.value) == 403

    bob_id = bob.server_info()["user"]["id"]
    client.patch_collection(id="tasks", permissions={"read": [bob_id]})
    client.create_record(id="shared", data={"n": 1})
    assert [r["id"] for r in bob.get_records(collection="tasks")] == ["shared"]
    with pytest.raises(KintoException) as denied:
        bob.update_record(id="shared", collection="tasks", data={"n": 2})
    assert status_of(denied.value) == 403
