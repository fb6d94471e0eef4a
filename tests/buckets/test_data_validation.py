"""Type-specific data of buckets, collections and groups (spec/01): schemas, cache_expires,
group members."""

from __future__ import annotations

import pytest

MAPPING = "is not a mapping type: Does not implement dict-like functionality."
GROUP = "/buckets/shop/groups/staff"
COLLECTION = "/buckets/shop/collections/orders"


@pytest.fixture
def shop(api) -> None:
    assert api.put("/buckets/shop").status == 201


def assert_invalid(response, message: str, name: str) -> None:
    assert response.status == 400, response
    assert response.json["errno"] == 107
    assert response.json["message"] == message
    assert response.json["details"][0]["name"] == name


# --- groups -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "members,message,name",
    [
        ("x", 'data.members in body: "x" is not iterable', "data.members"),
        (None, 'data.members in body: "None" is not iterable', "data.members"),
        ({"a": 1}, "data.members in body: \"{'a': 1}\" is not iterable", "data.members"),
        ([1], "data.members.0 in body: 1 is not a string: {'': ''}", "data.members.0"),
        ([""], "data.members.0 in body: Required", "data.members.0"),
        (
            ["ok", "system.Everyone"],
            "data.members.1 in body: 'system.Everyone' is not a valid user ID.",
            "data.members.1",
        ),
        (
            ["/buckets/shop/groups/other"],
            "data.members.0 in body: '/buckets/shop/groups/other' is not a valid user ID.",
            "data.members.0",
        ),
        (
            ["/buckets/x"],
            "data.members.0 in body: '/buckets/x' is not a valid user ID.",
            "data.members.0",
        ),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "POST"])
def test_invalid_members(api, shop, members, message, name, method):
    api.put(GROUP, {"data": {}})
    path = "/buckets/shop/groups" if method == "POST" else GROUP
    response = api.request(method, path, {"data": {"members": members}})
    assert_invalid(response, message, name)
    assert api.get(GROUP).data["members"] == []


def test_member_too_long(api, shop):
    response = api.put(GROUP, {"data": {"members": ["x" * 301]}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "data.members.0"


def test_members_default_and_kept(api, shop):
    assert "members" not in api.put(GROUP).data  # no data, no defaults (as the reference)
    assert api.put(GROUP, {"data": {}}).data["members"] == []
    api.put(GROUP, {"data": {"members": ["alice"]}})
    patched = api.patch(GROUP, {"data": {"title": "Staff"}})
    assert patched.data["members"] == ["alice"]
    assert api.put(GROUP, {"data": {"title": "x"}}).data["members"] == []


def test_members_accept_any_string(api, shop):
    members = ["system.Authenticated", "account:ana", "anything at all"]
    assert api.put(GROUP, {"data": {"members": members}}).data["members"] == members


def test_membership_is_effective_next_request(api, shop):
    bob = api.as_user("bob").get("/").json["user"]["id"]
    api.put(COLLECTION, {"permissions": {"read": [GROUP]}})
    assert api.as_user("bob").get(COLLECTION).status == 403
    api.put(GROUP, {"data": {"members": [bob]}})
    assert GROUP in api.as_user("bob").get("/").json["user"]["principals"]
    assert api.as_user("bob").get(COLLECTION).status == 200
    api.patch(GROUP, {"data": {"members": []}})
    assert api.as_user("bob").get(COLLECTION).status == 403


def test_authenticated_member(api, shop):
    api.put(GROUP, {"data": {"members": ["system.Authenticated"]}})
    api.put(COLLECTION, {"permissions": {"read": [GROUP]}})
    assert api.as_user("carol").get(COLLECTION).status == 200
    assert api.as_user(None).get(COLLECTION).status == 401


# --- JSON schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,field",
    [
        (COLLECTION, "schema"),
        ("/buckets/shop", "record:schema"),
        ("/buckets/shop", "collection:schema"),
        ("/buckets/shop", "group:schema"),
    ],
)
@pytest.mark.parametrize(
    "schema,description",
    [
        ("x", f'"x" {MAPPING}'),
        (None, f'"None" {MAPPING}'),
        ([], f'"[]" {MAPPING}'),
        ({"type": "bogus"}, "type'bogus' is not valid under any of the given schemas"),
        ({"type": 1}, "type1 is not valid under any of the given schemas"),
    ],
)
def test_invalid_schemas(api, shop, path, field, schema, description):
    response = api.put(path, {"data": {field: schema}})
    assert_invalid(response, f"data.{field} in body: {description}", f"data.{field}")


@pytest.mark.parametrize(
    "schema", [{}, {"type": "object", "properties": {"a": {"type": "string"}}}]
)
def test_valid_schemas(api, shop, schema):
    assert api.put(COLLECTION, {"data": {"schema": schema}}).data["schema"] == schema
    response = api.put("/buckets/shop", {"data": {"record:schema": schema}})
    assert response.data["record:schema"] == schema


def test_schema_fields_free_on_other_types(api, shop):
    assert api.put("/buckets/shop/groups/g", {"data": {"schema": "x"}}).status == 201
    assert api.put(COLLECTION, {"data": {"record:schema": "x"}}).status == 201


# --- cache_expires -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["x", "10", 1.5, True, [1]])
def test_invalid_cache_expires(api, shop, value):
    response = api.put(COLLECTION, {"data": {"cache_expires": value}})
    assert_invalid(
        response, f'data.cache_expires in body: "{value}" is not a number', "data.cache_expires"
    )


@pytest.mark.parametrize("value", [0, 10, -1])
def test_valid_cache_expires(api, shop, value):
    assert api.put(COLLECTION, {"data": {"cache_expires": value}}).data["cache_expires"] == value


def test_null_cache_expires_is_unset(api, shop):
    response = api.put(COLLECTION, {"data": {"cache_expires": None}})
    assert response.status == 201
    assert "cache_expires" not in response.data
