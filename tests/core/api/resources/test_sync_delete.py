"""Deleting: tombstones, list deletion and the cascades of buckets and collections
(spec/01, spec/02)."""

from __future__ import annotations

from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import KINDS, Kind, user_id

kind = resource_kinds.kind

RECORDS = KINDS["record"].plural
FUTURE = 4_000_000_000_000


def etag(response) -> int:
    return int(response.headers["ETag"].strip('"'))


def ids(response) -> list[str]:
    return sorted(item["id"] for item in response.data)


def test_delete_list(api, kind: Kind, kinto_settings):
    # A deleted bucket keeps no ACL: only who may read every bucket sees its tombstone.
    kinto_settings(bucket_read_principals=["system.Authenticated"])
    before = [api.put(kind.path(object_id)).data for object_id in ("a", "b", "c")]
    response = api.delete(kind.plural)
    assert response.status == 200
    assert ids(response) == ["a", "b", "c"]
    stamps = [item["last_modified"] for item in response.data]
    assert len(set(stamps)) == 3
    assert min(stamps) > max(item["last_modified"] for item in before)
    assert all(
        item["deleted"] is True and set(item) == {"id", "last_modified", "deleted"}
        for item in response.data
    )
    assert etag(response) == max(stamps)
    assert api.get(kind.plural).data == []
    tombstones = api.get(kind.plural + "?_since=0")
    assert sorted(item["id"] for item in tombstones.data) == ["a", "b", "c"]
    assert etag(api.get(kind.plural)) == max(stamps)


def test_delete_empty_list(api, kind: Kind):
    current = etag(api.get(kind.plural))
    response = api.delete(kind.plural)
    assert response.status == 200
    assert response.data == []
    assert etag(response) == current


def test_delete_list_with_filter_and_limit(api, kind: Kind):
    for index, object_id in enumerate(("a", "b", "c", "d")):
        api.put(kind.path(object_id), {"data": {"n": index}})
    response = api.delete(kind.plural + "?n=1")
    assert ids(response) == ["b"]
    response = api.delete(kind.plural + "?_sort=n&_limit=2")
    assert ids(response) == ["a", "c"]
    assert "Next-Page" in response.headers
    assert ids(api.get(kind.plural)) == ["d"]


def test_delete_list_only_what_caller_may_write(api, kind: Kind):
    bob = user_id(api, "bob")
    api.put(kind.path("mine"), {"permissions": {"write": [bob]}})
    api.put(kind.path("theirs"), {"permissions": {"read": [bob]}})
    response = api.as_user("bob").delete(kind.plural)
    assert response.status == 200
    assert ids(response) == ["mine"]
    assert api.get(kind.path("theirs")).status == 200


def test_delete_list_denied(api, kind: Kind):
    api.put(kind.path("abc"))
    assert api.as_user(None).delete(kind.plural).status == 401
    response = api.as_user("bob").delete(kind.plural)
    if kind.name == "bucket":
        # bob may create buckets: an empty deletion rather than a denial.
        assert response.status == 200 and response.data == []
    else:
        assert response.status == 403
    assert api.get(kind.path("abc")).status == 200


def test_delete_object_leaves_tombstone_visible_with_since(api, kind: Kind, kinto_settings):
    kinto_settings(bucket_read_principals=["system.Authenticated"])
    created = api.put(kind.path("abc"), {"data": {"n": 1}})
    deleted = api.delete(kind.path("abc"))
    listing = api.get(kind.plural + f"?_since={created.data['last_modified']}")
    assert listing.data == [deleted.data]
    assert api.get(kind.plural).data == []


# --- cascades ----------------------------------------------------------------------------------


def test_delete_collection_purges_records(api):
    KINDS["record"].setup(api)
    bob = user_id(api, "bob")
    api.put(f"{RECORDS}/r1", {"permissions": {"read": [bob]}})
    # A future timestamp: the records list timestamp is then far ahead of the clock.
    api.put(f"{RECORDS}/r2", {"data": {"last_modified": FUTURE}})
    api.delete(f"{RECORDS}/r2")
    collection_ts = etag(api.get("/buckets/shop/collections"))
    deleted = api.delete("/buckets/shop/collections/orders")
    assert deleted.status == 200
    assert deleted.data["last_modified"] > collection_ts
    assert api.get(RECORDS).json["errno"] == 111
    assert api.get(f"{RECORDS}/r1").json["errno"] == 111
    assert api.as_user("bob").get(f"{RECORDS}/r1").status == 403
    # Re-created: starts empty, no old tombstones, fresh list timestamp.
    recreated = api.put("/buckets/shop/collections/orders")
    assert recreated.status == 201
    listing = api.get(RECORDS + "?_since=0")
    assert listing.data == []
    assert etag(listing) < FUTURE  # not the old scope's timestamp: a fresh one
    assert etag(api.get(RECORDS)) == etag(listing)
    assert api.as_user("bob").get(f"{RECORDS}/r1").status == 403
    assert api.get(f"{RECORDS}/r1").status == 404
    # Only the collection left a tombstone.
    tombstones = api.get("/buckets/shop/collections?_since=0&deleted=true")
    assert ids(tombstones) == []
    history = api.get(f"/buckets/shop/collections?_since={collection_ts}")
    assert [item["id"] for item in history.data] == ["orders"]


def test_delete_bucket_purges_everything(api):
    KINDS["record"].setup(api)
    bob = user_id(api, "bob")
    api.put(f"{RECORDS}/r1", {"permissions": {"read": [bob]}})
    api.put("/buckets/shop/groups/staff", {"data": {"members": [bob]}})
    api.put("/buckets/shop/collections/other", {"permissions": {"read": [bob]}})
    assert "/buckets/shop/groups/staff" in api.as_user("bob").get("/").json["user"]["principals"]
    deleted = api.delete("/buckets/shop")
    assert deleted.data == {"id": "shop", "last_modified": etag(deleted), "deleted": True}
    assert (
        "/buckets/shop/groups/staff" not in api.as_user("bob").get("/").json["user"]["principals"]
    )
    api.put("/buckets/shop")
    for plural in ("/buckets/shop/collections", "/buckets/shop/groups"):
        assert api.get(plural + "?_since=0").data == []
    assert api.get("/buckets/shop/collections/orders").status == 404
    assert api.as_user("bob").get("/buckets/shop/collections/other").status == 403
    assert api.put("/buckets/shop/collections/orders").status == 201
    assert api.get(RECORDS + "?_since=0").data == []
    assert api.as_user("bob").get(f"{RECORDS}/r1").status == 403


def test_delete_group_revokes_membership(api):
    api.put("/buckets/shop")
    bob = user_id(api, "bob")
    api.put("/buckets/shop/groups/staff", {"data": {"members": [bob]}})
    api.put(
        "/buckets/shop/collections/c", {"permissions": {"read": ["/buckets/shop/groups/staff"]}}
    )
    assert api.as_user("bob").get("/buckets/shop/collections/c").status == 200
    api.delete("/buckets/shop/groups/staff")
    assert api.as_user("bob").get("/buckets/shop/collections/c").status == 403
    # Its grants go with it (spec/04 allows it; issue 3 wants no dangling grant).
    acls = api.get("/buckets/shop/collections/c").json["permissions"]
    assert "read" not in acls


def test_delete_bucket_list_purges_children(api):
    KINDS["record"].setup(api)
    api.put(f"{RECORDS}/r1")
    response = api.delete("/buckets")
    assert ids(response) == ["shop"]
    api.put("/buckets/shop")
    assert api.get("/buckets/shop/collections?_since=0").data == []
