"""Every method on the plural and object endpoints of the four resources (spec/01)."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import KINDS, Kind, data_without_meta, user_id

kind = resource_kinds.kind

ALICE_WRITE = "write"


def etag(response) -> int:
    return int(response.headers["ETag"].strip('"'))


# --- envelopes and ids ----------------------------------------------------------------------


def test_post_without_id_generates_one(api, kind: Kind):
    response = api.post(kind.plural, {"data": {"title": "x"}})
    assert response.status == 201
    object_id = response.data["id"]
    if kind.name == "record":
        assert str(uuid.UUID(object_id, version=4)) == object_id
    else:
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]{7}", object_id)
    assert response.data == {
        **kind.data(title="x"),
        "id": object_id,
        "last_modified": etag(response),
    }
    assert response.json["permissions"] == {"write": [user_id(api, "alice")]}
    assert response.headers["Last-Modified"]


def test_generated_ids_differ(api, kind: Kind):
    ids = {api.post(kind.plural).data["id"] for _ in range(5)}
    assert len(ids) == 5


def test_post_without_body_creates_empty_object(api, kind: Kind):
    response = api.post(kind.plural, content_type=None)
    assert response.status == 201
    # Without `data`, not even the type's defaults (a group's `members`), as the reference.
    assert data_without_meta(response.data) == {}


def test_post_with_id_then_again_returns_stored_object(api, kind: Kind):
    created = api.post(kind.plural, {"data": {"id": "abc", "n": 1}})
    assert created.status == 201
    again = api.post(kind.plural, {"data": {"id": "abc", "n": 2}})
    assert again.status == 200
    assert again.data == created.data
    assert again.headers["ETag"] == created.headers["ETag"]
    assert api.get(kind.path("abc")).data["n"] == 1


def test_post_existing_id_needs_only_read(api, kind: Kind):
    bob = user_id(api, "bob")
    api.post(kind.plural, {"data": {"id": "abc"}, "permissions": {"read": [bob]}})
    response = api.as_user("bob").post(kind.plural, {"data": {"id": "abc", "n": 9}})
    assert response.status == 200
    assert response.data["id"] == "abc" and "n" not in response.data
    # bob is not in the object's own write ACL: no ACLs shown.
    assert response.json["permissions"] == {}


def test_post_existing_id_unreadable(api, kind: Kind):
    api.post(kind.plural, {"data": {"id": "abc"}})
    assert api.as_user(None).post(kind.plural, {"data": {"id": "abc"}}).status == 401
    assert api.as_user("bob").post(kind.plural, {"data": {"id": "abc"}}).status == 403


def test_post_over_tombstone_creates(api, kind: Kind):
    api.post(kind.plural, {"data": {"id": "abc", "n": 1}})
    api.delete(kind.path("abc"))
    response = api.post(kind.plural, {"data": {"id": "abc", "n": 2}})
    assert response.status == 201
    assert response.data["n"] == 2


def test_get_object(api, kind: Kind):
    created = api.put(kind.path("abc"), {"data": {"n": 1}})
    response = api.get(kind.path("abc"))
    assert response.status == 200
    assert response.json == created.json
    assert response.headers["ETag"] == created.headers["ETag"]
    assert response.headers["Cache-Control"] == "no-cache, no-store"


def test_head_object_has_headers_no_body(api, kind: Kind):
    created = api.put(kind.path("abc"))
    response = api.head(kind.path("abc"))
    assert response.status == 200
    assert response.content == b""
    assert response.headers["ETag"] == created.headers["ETag"]


def test_get_missing_object(api, kind: Kind):
    response = api.get(kind.path("nope"))
    if kind.name == "bucket":
        assert response.status == 403  # no parent grants reading a missing bucket
        return
    assert response.status == 404
    assert response.json == {
        "code": 404,
        "errno": 110,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": kind.name},
    }


# --- PUT ------------------------------------------------------------------------------------


def test_put_creates_then_replaces(api, kind: Kind):
    created = api.put(kind.path("abc"), {"data": {"a": 1, "b": 2}})
    assert created.status == 201
    replaced = api.put(kind.path("abc"), {"data": {"c": 3}})
    assert replaced.status == 200
    assert data_without_meta(replaced.data) == kind.data(c=3)
    assert etag(replaced) > etag(created)
    assert api.get(kind.path("abc")).data == replaced.data


def test_put_without_data_keeps_data_and_bumps(api, kind: Kind):
    created = api.put(kind.path("abc"), {"data": {"a": 1}})
    bob = user_id(api, "bob")
    response = api.put(kind.path("abc"), {"permissions": {"read": [bob]}})
    assert response.status == 200
    assert data_without_meta(response.data) == kind.data(a=1)
    assert etag(response) > etag(created)
    assert response.json["permissions"]["read"] == [bob]


def test_put_without_body_creates_empty(api, kind: Kind):
    response = api.put(kind.path("abc"), content_type=None)
    assert response.status == 201
    assert data_without_meta(response.data) == {}


def test_put_same_data_still_bumps(api, kind: Kind):
    first = api.put(kind.path("abc"), {"data": {"a": 1}})
    second = api.put(kind.path("abc"), {"data": {"a": 1}})
    assert second.status == 200
    assert etag(second) > etag(first)


def test_put_id_must_match(api, kind: Kind):
    response = api.put(kind.path("abc"), {"data": {"id": "other"}})
    assert response.status == 400
    assert response.json["message"] == "Object id does not match existing object"
    assert response.json["details"][0]["location"] == "body"
    assert response.json["details"][0]["name"] == "id"
    assert api.put(kind.path("abc"), {"data": {"id": "abc"}}).status == 201


def test_put_over_tombstone_creates(api, kind: Kind):
    api.put(kind.path("abc"), {"data": {"a": 1}})
    api.delete(kind.path("abc"))
    response = api.put(kind.path("abc"), {"data": {"b": 1}})
    assert response.status == 201
    assert data_without_meta(response.data) == kind.data(b=1)


def test_put_permissions_replace_all_acls(api, kind: Kind):
    alice = user_id(api, "alice")
    acls = {name: [f"p-{index}"] for index, name in enumerate(kind.acl_names)}
    created = api.put(kind.path("abc"), {"permissions": acls})
    expected = {**acls, "write": sorted(["p-1", alice])}
    assert created.json["permissions"] == expected
    replaced = api.put(kind.path("abc"), {"data": {}, "permissions": {"read": ["x"]}})
    assert replaced.json["permissions"] == {"read": ["x"], "write": [alice]}
    assert api.get(kind.path("abc")).json["permissions"] == {"read": ["x"], "write": [alice]}


def test_put_without_permissions_keeps_acls(api, kind: Kind):
    alice = user_id(api, "alice")
    api.put(kind.path("abc"), {"permissions": {"read": ["x"]}})
    response = api.put(kind.path("abc"), {"data": {"n": 1}})
    assert response.json["permissions"] == {"read": ["x"], "write": [alice]}


def test_put_cannot_remove_self_from_write(api, kind: Kind):
    alice = user_id(api, "alice")
    api.put(kind.path("abc"))
    response = api.put(kind.path("abc"), {"permissions": {"write": []}})
    assert response.json["permissions"] == {"write": [alice]}


def test_put_null_acl_is_ignored(api, kind: Kind):
    response = api.put(kind.path("abc"), {"permissions": {"read": None}})
    assert response.status == 201
    assert list(response.json["permissions"]) == ["write"]


def test_editor_is_added_to_write(api, kind: Kind):
    alice, bob = user_id(api, "alice"), user_id(api, "bob")
    api.put(kind.path("abc"), {"permissions": {"write": [bob]}})
    response = api.as_user("bob").put(kind.path("abc"), {"data": {"n": 1}})
    assert response.status == 200
    assert response.json["permissions"] == {"write": sorted([alice, bob])}


def test_explicit_permissions_off(api, kind: Kind, kinto_settings):
    kinto_settings(explicit_permissions=False)
    response = api.put(kind.path("abc"), {"permissions": {"read": ["x"]}})
    assert response.status == 201
    # Not in the object's own write ACL: the ACLs are not shown.
    assert response.json["permissions"] == {}


# --- permissions visibility ------------------------------------------------------------------


def test_permissions_shown_only_to_own_writers(api, kind: Kind):
    alice, bob = user_id(api, "alice"), user_id(api, "bob")
    api.put(kind.path("abc"), {"permissions": {"read": ["system.Everyone"], "write": [bob]}})
    expected = {"read": ["system.Everyone"], "write": sorted([alice, bob])}
    assert api.as_user("bob").get(kind.path("abc")).json["permissions"] == expected
    assert api.as_user("carol").get(kind.path("abc")).json["permissions"] == {}
    assert api.as_user(None).get(kind.path("abc")).json["permissions"] == {}


def test_inherited_write_does_not_show_permissions(api):
    carol = user_id(api, "carol")
    kind = KINDS["record"]
    kind.setup(api)
    api.put("/buckets/shop", {"permissions": {"write": [carol]}})
    api.put(kind.path("abc"))
    response = api.as_user("carol").get(kind.path("abc"))
    assert response.status == 200
    assert response.json["permissions"] == {}
    # Through a group principal listed in the object's own write ACL, they are shown.
    api.put("/buckets/shop/groups/staff", {"data": {"members": [carol]}})
    api.put(kind.path("abc"), {"permissions": {"write": ["/buckets/shop/groups/staff"]}})
    assert api.as_user("carol").get(kind.path("abc")).json["permissions"] != {}


def test_lists_have_no_permissions(api, kind: Kind):
    api.put(kind.path("abc"), {"permissions": {"read": ["x"]}})
    response = api.get(kind.plural)
    assert response.status == 200
    assert "permissions" not in response.json
    assert all("permissions" not in item for item in response.data)


# --- DELETE ---------------------------------------------------------------------------------


def test_delete_returns_tombstone(api, kind: Kind):
    created = api.put(kind.path("abc"), {"data": {"n": 1}})
    response = api.delete(kind.path("abc"))
    assert response.status == 200
    assert response.json == {
        "data": {"id": "abc", "last_modified": etag(response), "deleted": True}
    }
    assert etag(response) > etag(created)
    assert "permissions" not in response.json


def test_deleted_object_is_gone(api, kind: Kind):
    api.put(kind.path("abc"))
    api.delete(kind.path("abc"))
    missing = 403 if kind.name == "bucket" else 404
    assert api.get(kind.path("abc")).status == missing
    assert api.patch(kind.path("abc"), {"data": {}}).status == missing
    assert api.delete(kind.path("abc")).status == missing
    assert api.put(kind.path("abc")).status == 201


def test_delete_needs_write(api, kind: Kind):
    bob = user_id(api, "bob")
    api.put(kind.path("abc"), {"permissions": {"read": [bob]}})
    assert api.as_user("bob").delete(kind.path("abc")).status == 403
    assert api.as_user("bob").put(kind.path("abc")).status == 403
    assert api.as_user("bob").patch(kind.path("abc"), {"data": {}}).status == 403
    assert api.as_user(None).delete(kind.path("abc")).status == 401
    assert api.get(kind.path("abc")).status == 200


# --- methods and routes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,endpoint",
    [("PUT", "plural"), ("PATCH", "plural"), ("POST", "object")],
)
def test_method_not_allowed(api, kind: Kind, method, endpoint):
    path = kind.plural if endpoint == "plural" else kind.path("abc")
    response = api.request(method, path, {})
    assert response.status == 405
    assert response.json["errno"] == 115
    assert "Allow" in response.headers


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_wrong_content_type_before_authentication(anonymous, method):
    path = "/buckets" if method == "POST" else "/buckets/abc"
    response = anonymous.request(method, path, {"data": {}}, content_type="text/plain")
    assert response.status == 415
    assert response.json["errno"] == 107


def test_accept_without_json_is_406(anonymous):
    response = anonymous.get("/buckets/abc", headers={"Accept": "text/html"})
    assert response.status == 406


def test_get_object_with_fields(api, kind: Kind):
    api.put(kind.path("abc"), {"data": {"a": 1, "b": 2}, "permissions": {"read": ["x"]}})
    response = api.get(kind.path("abc") + "?_fields=a")
    assert response.status == 200
    assert response.json["data"] == {"id": "abc", "a": 1, "last_modified": etag(response)}
    # spec/03: `_fields` narrows `data`; `permissions` is unaffected.
    assert response.json["permissions"]["read"] == ["x"]
