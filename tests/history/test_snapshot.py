"""`GET /buckets/{bid}/snapshot/collections/{cid}@{ts}` (spec/07): a collection's records as
they were at a timestamp, from the live records and the history."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories
from tests.history.conftest import user_id

SNAPSHOT = "/buckets/shop/snapshot/collections/orders@{}"


@pytest.fixture
def timeline(history) -> dict[str, dict]:
    """r1 and r2 created; then r1 updated, r2 deleted, r3 created."""
    factories.collection(history)
    versions = {
        "r1 v1": factories.record(history, {"v": 1}, record_id="r1"),
        "r2 v1": factories.record(history, {"v": 1}, record_id="r2"),
    }
    versions["r1 v2"] = history.patch(factories.RECORDS + "/r1", {"data": {"v": 2}}).data
    history.delete(factories.RECORDS + "/r2")
    versions["r3 v1"] = factories.record(history, {"v": 1}, record_id="r3")
    return versions


def snapshot(api, at, **kwargs) -> list[dict]:
    response = api.get(SNAPSHOT.format(at), **kwargs)
    assert response.status == 200, response
    return response.data


def test_records_as_they_were(history, timeline):
    r1, r2 = timeline["r1 v1"], timeline["r2 v1"]
    assert snapshot(history, r2["last_modified"]) == [r2, r1]
    assert snapshot(history, r2["last_modified"] - 1) == [r1]
    assert snapshot(history, r1["last_modified"] - 1) == []
    assert snapshot(history, 0) == []
    latest = [timeline["r3 v1"], timeline["r1 v2"]]
    assert snapshot(history, timeline["r3 v1"]["last_modified"]) == latest
    assert snapshot(history, 10**40) == latest  # beyond any timestamp: the present


def test_a_record_deleted_at_that_time_is_absent(history, timeline):
    history.delete(factories.RECORDS + "/r1")
    gone = history.get(factories.RECORDS + "?_since=0&id=r1").data[0]["last_modified"]
    back = factories.record(history, {"v": 3}, record_id="r1")
    assert [r["id"] for r in snapshot(history, gone)] == ["r3"]
    assert snapshot(history, back["last_modified"])[0] == back


def test_records_without_history_are_absent(history, kinto_settings):
    factories.collection(history)
    kinto_settings(history_enabled=False)
    before = factories.record(history, {"v": 1}, record_id="r1")
    kinto_settings(history_enabled=True)
    history.patch(factories.RECORDS + "/r1", {"data": {"v": 2}})
    # Its version at that time was never recorded: it cannot be rebuilt.
    assert snapshot(history, before["last_modified"]) == []


@pytest.mark.parametrize("raw", ["-1", "abc", "1.5", "1e3", "%2012"])
def test_bad_timestamps_are_400(history, timeline, raw):
    response = history.get(SNAPSHOT.format(raw))
    assert response.status == 400
    shown = raw.replace("%20", " ")
    assert response.json["message"] == f"Invalid timestamp {shown!r}"
    assert response.json["details"] == [
        {"location": "path", "name": "timestamp", "description": f"Invalid timestamp {shown!r}"}
    ]


def test_bad_ids_and_paths(history, timeline):
    response = history.get("/buckets/b%40/snapshot/collections/orders@1")
    assert (response.status, response.json["errno"]) == (404, 111)
    assert response.json["details"] == {"id": "b@", "resource_name": "bucket"}
    response = history.get("/buckets/shop/snapshot/collections/c%40@1")
    assert response.json["details"] == {"id": "c@", "resource_name": "collection"}
    assert history.get("/buckets/shop/snapshot/collections/orders@").status == 404


def test_who_may_read_it(history, timeline):
    bob, carol = user_id(history, "bob"), user_id(history, "carol")
    history.patch(factories.RECORDS + "/r3", {"permissions": {"read": [carol]}})
    assert history.get(SNAPSHOT.format(0), user="bob").status == 403
    assert history.get(SNAPSHOT.format(0), user="carol").status == 403  # a record is not enough
    assert history.get(SNAPSHOT.format(0), user=None).status == 401
    history.patch(factories.COLLECTION, {"permissions": {"read": [bob]}})
    assert history.get(SNAPSHOT.format(0), user="bob").status == 200
    history.patch("/buckets/shop", {"permissions": {"read": [carol]}})
    assert history.get(SNAPSHOT.format(0), user="carol").status == 200


def test_missing_collection_or_bucket(history, timeline):
    missing = history.get("/buckets/shop/snapshot/collections/nope@1")
    assert (missing.status, missing.data) == (200, [])
    assert history.get("/buckets/nope/snapshot/collections/orders@1").status == 403


def test_methods(history, timeline):
    head = history.head(SNAPSHOT.format(0))
    assert (head.status, head.content) == (200, b"")
    refused = history.put(SNAPSHOT.format(0))
    assert refused.status == 405
    assert refused.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_through_the_default_bucket(history, kinto_settings):
    kinto_settings(default_bucket_enabled=True)
    created = history.put("/buckets/default/collections/tasks/records/t1", {"data": {}}).data
    path = f"/buckets/default/snapshot/collections/tasks@{created['last_modified']}"
    assert history.get(path).data == [created]


def test_constant_number_of_queries(history, timeline, django_assert_max_num_queries):
    at = timeline["r2 v1"]["last_modified"]
    with CaptureQueriesContext(connection) as captured:
        snapshot(history, at)
    count = len(captured.captured_queries)  # (read from the log, cleared by the next request)
    for index in range(30):
        factories.record(history, {"v": 1}, record_id=f"x{index}")
        history.patch(f"{factories.RECORDS}/x{index}", {"data": {"v": 2}})
    with django_assert_max_num_queries(count):
        assert len(snapshot(history, 10**15)) == 32


def test_a_new_reader_of_the_collection_gets_no_version_history_hid_from_them(history):
    """A snapshot shows the versions that `/history` would show the caller: a reader of the
    collection added later, who cannot read the bucket, does not get the private versions
    written before."""
    factories.collection(history)
    private = factories.record(history, {"salary": "SECRET 250k"}, record_id="pay")
    history.put(factories.RECORDS + "/pay", {"data": {"salary": "on request"}})
    bob = user_id(history, "bob")
    history.patch(factories.COLLECTION, {"permissions": {"read": [bob]}})
    at = private["last_modified"]
    assert snapshot(history, at) == [private]  # the bucket's owner sees it
    assert snapshot(history, at, user="bob") == []
    assert "SECRET" not in history.get(SNAPSHOT.format(at), user="bob").content.decode()


def test_versions_of_a_former_collection_of_the_same_id_are_never_shown(history):
    """Entries of a deleted collection stay in the history; a collection re-created under
    the same id has no past before its creation."""
    factories.collection(history)
    old = factories.record(history, {"v": "former collection"}, record_id="r1")
    history.delete(factories.COLLECTION)
    factories.collection(history, create_bucket=False)
    factories.record(history, {"v": "current collection"}, record_id="r1")
    assert snapshot(history, old["last_modified"]) == []
