"""ETag / Last-Modified on every response kind and the If-Match / If-None-Match matrix
(spec/02)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import Kind, user_id

kind = resource_kinds.kind

INM, IM = "If-None-Match", "If-Match"


def etag(response) -> int:
    return int(response.headers["ETag"].strip('"'))


def assert_timestamp_headers(response, timestamp: int) -> None:
    assert response.headers["ETag"] == f'"{timestamp}"'
    last_modified = parsedate_to_datetime(response.headers["Last-Modified"])
    assert int(last_modified.timestamp()) == timestamp // 1000


@pytest.fixture
def obj(api, kind: Kind) -> dict:
    response = api.put(kind.path("abc"), {"data": {"n": 1}})
    assert response.status == 201
    return response.data


def list_etag(api, kind: Kind) -> int:
    return etag(api.get(kind.plural))


# --- which timestamp each response carries ---------------------------------------------------


def test_headers_of_every_response_kind(api, kind: Kind, obj):
    assert_timestamp_headers(api.get(kind.path("abc")), obj["last_modified"])
    assert_timestamp_headers(api.head(kind.path("abc")), obj["last_modified"])
    put = api.put(kind.path("abc"), {"data": {}})
    assert_timestamp_headers(put, put.data["last_modified"])
    patch = api.patch(kind.path("abc"), {"data": {"n": 2}})
    assert_timestamp_headers(patch, patch.data["last_modified"])
    post = api.post(kind.plural, {"data": {"id": "def"}})
    assert_timestamp_headers(post, post.data["last_modified"])
    again = api.post(kind.plural, {"data": {"id": "abc"}})
    assert_timestamp_headers(again, patch.data["last_modified"])
    listing = api.get(kind.plural)
    assert_timestamp_headers(listing, post.data["last_modified"])
    assert_timestamp_headers(api.head(kind.plural), post.data["last_modified"])
    deleted = api.delete(kind.path("abc"))
    assert_timestamp_headers(deleted, deleted.data["last_modified"])
    assert_timestamp_headers(api.get(kind.plural), deleted.data["last_modified"])


def test_list_timestamp_ignores_filters_and_visibility(api, kind: Kind, obj):
    bob = user_id(api, "bob")
    api.put(kind.path("other"), {"permissions": {"read": [bob]}})
    full = api.get(kind.plural)
    assert etag(api.get(kind.plural + "?n=42")) == etag(full)
    as_bob = api.as_user("bob").get(kind.plural)
    assert as_bob.status == 200
    assert etag(as_bob) == etag(full)


def test_list_delete_etag(api, kind: Kind):
    for object_id in ("a", "b", "c"):
        api.put(kind.path(object_id))
    empty = api.delete(kind.plural + "?id=nope")
    assert empty.data == []
    assert etag(empty) == list_etag(api, kind)
    response = api.delete(kind.plural)
    stamps = [item["last_modified"] for item in response.data]
    assert etag(response) == max(stamps)


# --- 304 -------------------------------------------------------------------------------------


def test_if_none_match_current_gives_304(api, kind: Kind, obj):
    for method in ("GET", "HEAD"):
        response = api.request(
            method, kind.path("abc"), headers={INM: f'"{obj["last_modified"]}"'}
        )
        assert response.status == 304
        assert response.content == b""
        assert_timestamp_headers(response, obj["last_modified"])


def test_if_none_match_other_gives_200(api, kind: Kind, obj):
    response = api.get(kind.path("abc"), headers={INM: '"1"'})
    assert response.status == 200


def test_list_304(api, kind: Kind, obj):
    current = list_etag(api, kind)
    for method in ("GET", "HEAD"):
        response = api.request(method, kind.plural, headers={INM: f'"{current}"'})
        assert response.status == 304
        assert_timestamp_headers(response, current)
    assert api.get(kind.plural, headers={INM: f'"{current - 1}"'}).status == 200


def test_if_none_match_value_ignored_on_writes(api, kind: Kind, obj):
    header = {INM: f'"{obj["last_modified"]}"'}
    assert api.patch(kind.path("abc"), {"data": {}}, headers=header).status == 200
    assert api.put(kind.path("abc"), {"data": {}}, headers={INM: '"1"'}).status == 200


# --- 412 -------------------------------------------------------------------------------------


def assert_412(response, existing=None, timestamp: int | None = None) -> None:
    assert response.status == 412, response
    assert response.json["errno"] == 114
    assert response.json["message"] == "Resource was modified meanwhile"
    if existing is None:
        assert "details" not in response.json
    else:
        assert response.json["details"] == {"existing": existing}
    if timestamp is not None:
        assert_timestamp_headers(response, timestamp)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE"])
def test_if_none_match_star_on_existing(api, kind: Kind, obj, method):
    response = api.request(method, kind.path("abc"), {"data": {"n": 2}}, headers={INM: "*"})
    if method == "HEAD":
        assert response.status == 412
        return
    assert_412(response, obj, obj["last_modified"])
    assert api.get(kind.path("abc")).data == obj


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_if_match_stale(api, kind: Kind, obj, method):
    for stale in (obj["last_modified"] - 1, obj["last_modified"] + 1):
        response = api.request(method, kind.path("abc"), {"data": {}}, headers={IM: f'"{stale}"'})
        assert_412(response, obj, obj["last_modified"])


def test_if_match_current_proceeds(api, kind: Kind, obj):
    header = {IM: f'"{obj["last_modified"]}"'}
    patched = api.patch(kind.path("abc"), {"data": {"n": 2}}, headers=header)
    assert patched.status == 200
    assert api.put(kind.path("abc"), {"data": {}}, headers=header).status == 412
    header = {IM: f'"{patched.data["last_modified"]}"'}
    assert api.delete(kind.path("abc"), headers=header).status == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_if_match_star_on_existing_proceeds(api, kind: Kind, obj, method):
    response = api.request(method, kind.path("abc"), {"data": {}}, headers={IM: "*"})
    assert response.status == 200


def test_if_match_on_absent_object(api, kind: Kind):
    current = list_etag(api, kind)
    for value in ("*", '"123"', f'"{current}"'):
        response = api.put(kind.path("nope"), {"data": {}}, headers={IM: value})
        assert_412(response, None, current)
    assert api.get(kind.path("nope"), headers={INM: "*"}).status in (403, 404)


def test_put_if_none_match_star_creates(api, kind: Kind):
    response = api.put(kind.path("new"), {"data": {"n": 1}}, headers={INM: "*"})
    assert response.status == 201
    assert_412(
        api.put(kind.path("new"), {"data": {"n": 2}}, headers={INM: "*"}),
        response.data,
        response.data["last_modified"],
    )


def test_if_none_match_star_on_tombstone_recreates(api, kind: Kind, obj):
    api.delete(kind.path("abc"))
    assert api.put(kind.path("abc"), headers={INM: "*"}).status == 201


def test_if_match_on_tombstone_fails(api, kind: Kind, obj):
    deleted = api.delete(kind.path("abc"))
    response = api.put(kind.path("abc"), {"data": {}}, headers={IM: "*"})
    assert_412(response, None, deleted.data["last_modified"])


def test_412_without_details_for_who_may_only_create(api):
    """The reference leaks the object to callers who may only create (fixed, spec/02)."""
    api.put("/buckets/shop")
    bob = user_id(api, "bob")
    api.put("/buckets/shop/collections/orders", {"permissions": {"record:create": [bob]}})
    path = "/buckets/shop/collections/orders/records/secret"
    secret = api.put(path, {"data": {"pin": 1234}})
    response = api.as_user("bob").put(path, {"data": {}}, headers={INM: "*"})
    assert_412(response, None)
    # Nothing of the hidden record: neither its data nor its timestamp.
    assert "ETag" not in response.headers and "Last-Modified" not in response.headers
    assert str(secret.data["last_modified"]) not in str(dict(response.headers))
    # Without If-None-Match, replacing needs write: 403.
    assert api.as_user("bob").put(path, {"data": {}}).status == 403


def test_put_if_none_match_star_needs_create(api, kind: Kind, obj):
    bob = user_id(api, "bob")
    api.put(kind.path("abc"), {"permissions": {"read": [bob]}})
    response = api.as_user("bob").put(kind.path("abc"), headers={INM: "*"})
    if kind.name == "bucket":
        # Every authenticated user may create buckets; bob may read it: full 412.
        assert response.status == 412 and "existing" in response.json["details"]
    else:
        assert response.status == 403


def test_details_for_readers(api, kind: Kind, obj):
    bob = user_id(api, "bob")
    api.put(kind.path("abc"), {"data": {"n": 1}, "permissions": {"write": [bob]}})
    response = api.as_user("bob").patch(kind.path("abc"), {"data": {}}, headers={IM: '"1"'})
    assert response.status == 412
    assert response.json["details"]["existing"]["n"] == 1
    assert "permissions" not in response.json["details"]["existing"]


# --- lists -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_list_if_none_match_star(api, kind: Kind, obj, method):
    current = list_etag(api, kind)
    response = api.request(method, kind.plural, headers={INM: "*"})
    assert response.status == 412
    assert_timestamp_headers(response, current)
    if method != "HEAD":
        assert "details" not in response.json
    assert api.get(kind.path("abc")).status == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_list_if_match(api, kind: Kind, obj, method):
    current = list_etag(api, kind)
    response = api.request(method, kind.plural, headers={IM: f'"{current - 1}"'})
    assert response.status == 412
    assert_timestamp_headers(response, current)
    response = api.request(method, kind.plural, headers={IM: f'"{current}"'})
    assert response.status == 200


def test_post_if_match_quirk(api, kind: Kind, obj):
    """Any If-Match on a POST that creates is a 412: the targeted object does not exist."""
    for value in ("*", '"1"', f'"{list_etag(api, kind)}"'):
        response = api.post(kind.plural, {"data": {"n": 2}}, headers={IM: value})
        assert_412(response, None, list_etag(api, kind))
        response = api.post(kind.plural, {"data": {"id": "zz"}}, headers={IM: value})
        assert response.status == 412
    assert api.get(kind.path("zz")).status in (403, 404)


def test_post_existing_with_preconditions(api, kind: Kind, obj):
    header = {IM: f'"{obj["last_modified"]}"'}
    assert api.post(kind.plural, {"data": {"id": "abc"}}, headers=header).status == 200
    response = api.post(kind.plural, {"data": {"id": "abc"}}, headers={IM: '"1"'})
    assert_412(response, obj, obj["last_modified"])
    response = api.post(kind.plural, {"data": {"id": "abc"}}, headers={INM: "*"})
    assert_412(response, obj, obj["last_modified"])
    assert api.post(kind.plural, {"data": {"id": "zz"}}, headers={INM: "*"}).status == 201


# --- header syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", [IM, INM])
@pytest.mark.parametrize("value", ["abc", "12", '"12', '"-1"', '""', '"1.5"', 'W/"1"'])
def test_invalid_precondition_header(api, kind: Kind, obj, header, value):
    response = api.get(kind.path("abc"), headers={header: value})
    assert response.status == 400
    assert response.json["message"] == (
        f"{header} in header: The value should be integer between double quotes."
    )


def test_if_modified_since_is_ignored(api, kind: Kind, obj):
    headers = {"If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"}
    assert api.get(kind.path("abc"), headers=headers).status == 200
    headers = {"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}
    assert api.patch(kind.path("abc"), {"data": {}}, headers=headers).status == 200


def test_get_order_404_before_304_before_412(api, kind: Kind, obj):
    headers = {INM: f'"{obj["last_modified"]}"', IM: '"1"'}
    assert api.get(kind.path("abc"), headers=headers).status == 304
    if kind.name != "bucket":
        assert api.get(kind.path("nope"), headers=headers).status == 404
        assert api.patch(kind.path("nope"), {"data": {}}, headers={IM: '"1"'}).status == 404
        assert api.delete(kind.path("nope"), headers={IM: '"1"'}).status == 404
