"""The order of checks (spec/01): route → content negotiation → parent lookup for record
writes → authorization → validation → existence and preconditions."""

from __future__ import annotations

import pytest

from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import KINDS, Kind, user_id

kind = resource_kinds.kind

MISSING_COLLECTION = "/buckets/shop/collections/nope/records"


@pytest.fixture
def shop(api) -> None:
    KINDS["record"].setup(api)


def parent_404(response, object_id: str = "nope", resource_name: str = "collection") -> None:
    assert response.status == 404, response
    assert response.json == {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "details": {"id": object_id, "resource_name": resource_name},
    }


@pytest.mark.parametrize("user", [None, "bob", "alice"])
@pytest.mark.parametrize(
    "method,suffix",
    [("POST", ""), ("PUT", "/r1"), ("PATCH", "/r1"), ("DELETE", "/r1")],
)
def test_record_writes_look_up_the_collection_first(api, shop, user, method, suffix):
    response = api.as_user(user).request(method, MISSING_COLLECTION + suffix, {"data": {}})
    parent_404(response)


def test_record_write_in_missing_bucket_reports_the_collection(anonymous):
    response = anonymous.put("/buckets/nope/collections/c/records/r1", {"data": {}})
    parent_404(response, "c")


@pytest.mark.parametrize("method,suffix", [("GET", ""), ("GET", "/r1"), ("DELETE", "")])
def test_record_reads_and_list_delete_authorize_first(api, shop, method, suffix):
    assert api.as_user(None).request(method, MISSING_COLLECTION + suffix).status == 401
    assert api.as_user("bob").request(method, MISSING_COLLECTION + suffix).status == 403
    parent_404(api.request(method, MISSING_COLLECTION + suffix))


def test_content_type_before_parent_lookup(anonymous):
    response = anonymous.post(MISSING_COLLECTION, {"data": {}}, content_type="text/plain")
    assert response.status == 415


def test_parent_lookup_before_validation(api, shop):
    response = api.post(MISSING_COLLECTION, {"data": "not an object"})
    parent_404(response)


@pytest.mark.parametrize("kind", ["collection", "group"], indirect=True)
def test_containers_in_missing_bucket_are_denied(api, kind: Kind):
    path = kind.plural.replace("/buckets/shop", "/buckets/nope")
    for method, suffix in (("GET", ""), ("POST", ""), ("GET", "/x"), ("PUT", "/x")):
        response = api.request(method, path + suffix, {"data": {}})
        assert response.status == 403, (method, suffix, response)
        assert api.as_user(None).request(method, path + suffix, {}).status == 401


def test_authorization_before_validation(api, kind: Kind):
    api.put(kind.path("abc"))
    response = api.as_user("bob").put(kind.path("abc"), {"data": "not an object"})
    assert response.status == 403
    response = api.as_user(None).patch(kind.path("abc"), {"perms": 1})
    assert response.status == 401


@pytest.mark.parametrize("kind", ["collection", "group", "record"], indirect=True)
def test_validation_before_existence(api, kind: Kind):
    response = api.patch(kind.path("nope"), {"data": "x"})
    assert response.status == 400
    response = api.patch(kind.path("nope"), {"data": {}}, headers={"If-Match": "bad"})
    assert response.status == 400


def test_validation_before_preconditions(api, kind: Kind):
    api.put(kind.path("abc"))
    response = api.put(kind.path("abc"), {"data": "x"}, headers={"If-Match": '"1"'})
    assert response.status == 400


@pytest.mark.parametrize(
    "caller,get,write,put",
    [
        (None, 401, 401, 401),
        ("stranger", 403, 403, 403),
        ("reader", 404, 404, 403),
        ("creator", 403, 403, 201),
    ],
)
def test_missing_record_matrix(api, shop, caller, get, write, put):
    """spec/04: a missing record in an existing collection, per kind of caller."""
    user = {"stranger": "bob", "reader": "carol", "creator": "dave"}.get(caller)
    acls = {"read": [user_id(api, "carol")], "record:create": [user_id(api, "dave")]}
    api.put("/buckets/shop/collections/orders", {"permissions": acls})
    client = api.as_user(user)
    path = "/buckets/shop/collections/orders/records/nope"
    assert client.get(path).status == get
    assert client.patch(path, {"data": {}}).status == write
    assert client.delete(path).status == write
    assert client.put(path, {"data": {}}).status == put


def test_missing_bucket_for_bucket_readers(api, kinto_settings):
    kinto_settings(bucket_read_principals=["system.Authenticated"])
    assert api.get("/buckets/nope").status == 404
    assert api.patch("/buckets/nope", {"data": {}}).status == 404
    assert api.delete("/buckets/nope").status == 404
