"""Timestamps: strictly increasing per (parent, type), list timestamps, forced values (spec/02)."""

from __future__ import annotations

import pytest

from kinto_django.core.timestamps import now_ms
from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import KINDS, Kind

kind = resource_kinds.kind

FUTURE = 1_900_000_000_000 * 2  # well after now, still below 2^53


def etag(response) -> int:
    return int(response.headers["ETag"].strip('"'))


def list_etag(api, kind: Kind) -> int:
    return etag(api.get(kind.plural))


def test_timestamps_strictly_increase(api, kind: Kind):
    stamps = []
    for index in range(10):
        stamps.append(api.put(kind.path(f"o{index}")).data["last_modified"])
    stamps.append(api.patch(kind.path("o1"), {"data": {"n": 1}}).data["last_modified"])
    stamps.append(api.delete(kind.path("o2")).data["last_modified"])
    stamps.append(api.post(kind.plural).data["last_modified"])
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    assert list_etag(api, kind) == stamps[-1]


def test_timestamps_increase_within_a_batch(api, kind: Kind):
    requests = [{"method": "PUT", "path": kind.path(f"o{index}")} for index in range(10)]
    response = api.post("/batch", {"requests": requests})
    assert response.status == 200
    stamps = [item["body"]["data"]["last_modified"] for item in response.json["responses"]]
    assert stamps == sorted(set(stamps))


def test_timestamps_are_per_scope(api):
    api.put("/buckets/one")
    api.put("/buckets/two")
    one = api.put("/buckets/one/collections/c")
    two = api.put(
        "/buckets/two/collections/c", {"data": {"last_modified": one.data["last_modified"]}}
    )
    # Another bucket is another scope: the same value is allowed there.
    assert two.status == 201
    assert two.data["last_modified"] == one.data["last_modified"]


def test_parent_and_child_timestamps_are_independent(api):
    KINDS["record"].setup(api)
    collection = api.get("/buckets/shop/collections/orders")
    api.put(KINDS["record"].path("r1"))
    assert api.get("/buckets/shop/collections/orders").json == collection.json


def test_empty_list_timestamp_is_fixed_on_first_read(api, kind: Kind):
    before = now_ms()
    first = list_etag(api, kind)
    assert first >= before
    assert list_etag(api, kind) == first
    assert etag(api.head(kind.plural)) == first
    created = api.put(kind.path("abc"))
    assert created.data["last_modified"] > first
    assert list_etag(api, kind) == created.data["last_modified"]


def test_first_read_on_read_only_server(api, kind: Kind, kinto_settings):
    kinto_settings(readonly=True)
    response = api.get(kind.plural)
    assert response.status == 503
    assert response.json["errno"] == 201


# --- forced timestamps -----------------------------------------------------------------------


def test_forced_past_on_create(api, kind: Kind):
    current = list_etag(api, kind)
    created = api.put(kind.path("abc"), {"data": {"last_modified": 1000}})
    assert created.status == 201
    assert created.data["last_modified"] == 1000
    assert created.headers["ETag"] == '"1000"'
    assert list_etag(api, kind) == current
    posted = api.post(kind.plural, {"data": {"id": "def", "last_modified": 2000}})
    assert posted.data["last_modified"] == 2000


def test_forced_past_in_never_written_list(api, kind: Kind):
    """A past value does not become the list timestamp, even of a list never written."""
    created = api.put(kind.path("abc"), {"data": {"last_modified": 1000}})
    assert created.data["last_modified"] == 1000
    assert list_etag(api, kind) > 1000
    assert api.put(kind.path("def"), {"data": {"last_modified": 1000}}).status == 409


def test_forced_future_becomes_list_timestamp(api, kind: Kind):
    created = api.put(kind.path("abc"), {"data": {"last_modified": FUTURE}})
    assert created.data["last_modified"] == FUTURE
    assert list_etag(api, kind) == FUTURE
    assert api.put(kind.path("def")).data["last_modified"] == FUTURE + 1


def test_forced_equal_to_list_timestamp_is_bumped(api, kind: Kind):
    api.put(kind.path("abc"))
    current = list_etag(api, kind)
    created = api.put(kind.path("def"), {"data": {"last_modified": current}})
    assert created.status == 201
    assert created.data["last_modified"] > current


def test_forced_collision_is_409(api, kind: Kind):
    api.put(kind.path("abc"), {"data": {"last_modified": 5000}})
    response = api.post(kind.plural, {"data": {"id": "def", "last_modified": 5000}})
    assert response.status == 409
    assert response.json["errno"] == 122
    assert response.headers["Retry-After"] == "3"
    assert api.get(kind.path("def")).status in (403, 404)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_forced_on_update(api, kind: Kind, method):
    stored = api.put(kind.path("abc")).data["last_modified"]
    for past in (stored - 1, stored):
        response = api.request(method, kind.path("abc"), {"data": {"last_modified": past}})
        assert response.status == 200
        assert response.data["last_modified"] > stored
        stored = response.data["last_modified"]
    response = api.request(method, kind.path("abc"), {"data": {"last_modified": FUTURE}})
    assert response.data["last_modified"] == FUTURE
    assert list_etag(api, kind) == FUTURE


def test_forced_on_delete(api, kind: Kind):
    for object_id in ("a", "b", "c"):
        api.put(kind.path(object_id))
    stored = api.get(kind.path("a")).data["last_modified"]
    response = api.delete(kind.path("a") + f"?last_modified={stored - 1}")
    assert response.data["last_modified"] > stored
    response = api.delete(kind.path("b") + f"?last_modified={FUTURE}")
    assert response.data == {"id": "b", "last_modified": FUTURE, "deleted": True}
    assert response.headers["ETag"] == f'"{FUTURE}"'
    response = api.delete(kind.path("c") + f'?last_modified="{FUTURE + 10}"')
    assert response.data["last_modified"] == FUTURE + 10


@pytest.mark.parametrize("value", ["abc", "1.5", "", str(2**53)])
def test_forced_delete_invalid(api, kind: Kind, value):
    api.put(kind.path("abc"))
    response = api.delete(kind.path("abc") + f"?last_modified={value}")
    assert response.status == 400
    assert response.json["details"][0]["name"] == "last_modified"
    assert api.get(kind.path("abc")).status == 200


def test_timestamps_are_milliseconds(api, kind: Kind):
    before = now_ms()
    stamp = api.put(kind.path("abc")).data["last_modified"]
    assert before <= stamp <= now_ms() + 1000
