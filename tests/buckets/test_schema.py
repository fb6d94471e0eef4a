"""JSON-Schema validation of collections and groups against their bucket's
`collection:schema` and `group:schema` (spec/08), and the checks of stored schemas."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.conftest import Api

BUCKET = factories.BUCKET
COLLECTION = factories.COLLECTION
GROUP = f"{BUCKET}/groups/staff"

COLLECTION_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}},
    "required": ["label"],
}
GROUP_SCHEMA = {
    "type": "object",
    "properties": {"members": {"type": "array", "maxItems": 2}},
    "required": ["members", "kind"],
}


@pytest.fixture
def validation(kinto_settings) -> None:
    kinto_settings(experimental_collection_schema_validation=True)


@pytest.fixture
def shop(api, validation) -> dict:
    """A bucket with both schemas, validation on."""
    return factories.bucket(
        api, data={"collection:schema": COLLECTION_SCHEMA, "group:schema": GROUP_SCHEMA}
    )


def assert_invalid(response, name: Any, description: str) -> None:
    """A 400 with one detail; its message follows the rule of spec/00."""
    assert response.status == 400, response
    message = description if str(name) in description else f"{name} in body: {description}"
    assert response.json == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "body", "name": name, "description": description}],
    }


# --- collections ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_collection_creation_is_validated(api, shop, method):
    path = COLLECTION if method == "PUT" else f"{BUCKET}/collections"
    response = api.request(method, path, {"data": {"id": "orders"}})
    assert_invalid(response, "label", "'label' is a required property")
    response = api.request(method, path, {"data": {"id": "orders", "label": 1}})
    assert_invalid(response, "label", "1 is not of type 'string'")
    assert api.get(COLLECTION).status == 404
    assert api.request(method, path, {"data": {"id": "orders", "label": "x"}}).status == 201


def test_collection_updates_validate_the_final_object(api, shop):
    before = api.put(COLLECTION, {"data": {"label": "x"}}).json["data"]
    response = api.patch(
        COLLECTION, {"data": {"label": None}}, content_type="application/merge-patch+json"
    )
    assert_invalid(response, "label", "'label' is a required property")
    operations = [{"op": "replace", "path": "/data/label", "value": 2}]
    response = api.patch(COLLECTION, operations, content_type="application/json-patch+json")
    assert_invalid(response, "label", "2 is not of type 'string'")
    assert_invalid(api.put(COLLECTION, {"data": {}}), "label", "'label' is a required property")
    assert api.get(COLLECTION).json["data"] == before
    assert api.patch(COLLECTION, {"data": {"title": "t"}}).status == 200


def test_collection_schema_field_is_validated_data(api, validation):
    """Unlike a record's `schema`, a collection's own `schema` is part of its data."""
    factories.bucket(
        api,
        data={
            "collection:schema": {
                "properties": {"schema": {"required": ["properties"]}},
                "required": ["last_modified"],  # never required: set by the server
            }
        },
    )
    response = api.put(COLLECTION, {"data": {"schema": {}}})
    assert_invalid(response, "schema", "'properties' is a required property")
    assert api.put(COLLECTION, {"data": {"schema": {"properties": {}}}}).status == 201


def test_collection_id_rule(api, validation):
    factories.bucket(
        api,
        data={"collection:schema": {"properties": {"id": {"pattern": "^[a-z]+$"}}}},
    )
    assert_invalid(
        api.put(f"{BUCKET}/collections/c1", {"data": {}}), "id", "'c1' does not match '^[a-z]+$'"
    )
    assert api.put(f"{BUCKET}/collections/orders", {"data": {}}).status == 201


def test_records_of_the_collection_are_not_held_to_the_collection_schema(api, shop):
    factories.collection(api, data={"label": "x"}, create_bucket=False)
    assert api.post(f"{COLLECTION}/records", {"data": {}}).status == 201


# --- groups --------------------------------------------------------------------------------------


def test_group_members_are_validated(api, shop):
    response = api.put(GROUP, {"data": {"members": ["a", "b", "c"], "kind": 1}})
    assert_invalid(response, "members", "['a', 'b', 'c'] is too long")
    assert api.put(GROUP, {"data": {"members": ["a"], "kind": 1}}).status == 201
    response = api.patch(GROUP, {"data": {"members": ["a", "b", "c"]}})
    assert_invalid(response, "members", "['a', 'b', 'c'] is too long")
    assert api.get(GROUP).json["data"]["members"] == ["a"]


def test_group_default_members_are_validated_data(api, shop):
    """`members` defaults to [] before validation: only `kind` is missing."""
    response = api.put(GROUP, {"data": {}})
    assert_invalid(response, "kind", "'kind' is a required property")
    response = api.post(f"{BUCKET}/groups", {"data": {"id": "staff"}})
    assert_invalid(response, "kind", "'kind' is a required property")
    assert api.post(f"{BUCKET}/groups", {"data": {"id": "staff", "kind": 1}}).status == 201


def test_refused_group_grants_nothing(api, shop):
    bob = api.as_user("bob")
    bob_id = bob.get("/").json["user"]["id"]
    api.put(COLLECTION, {"data": {"label": "x"}, "permissions": {"read": [GROUP]}})
    response = api.put(GROUP, {"data": {"members": [bob_id, "b", "c"], "kind": 1}})
    assert response.status == 400
    assert bob.get(COLLECTION).status == 403


def test_switch_off_validates_nothing(api, kinto_settings):
    factories.bucket(
        api, data={"collection:schema": COLLECTION_SCHEMA, "group:schema": GROUP_SCHEMA}
    )
    assert api.put(COLLECTION, {"data": {}}).status == 201
    assert api.put(GROUP, {"data": {"members": ["a", "b", "c"]}}).status == 201


def test_schema_change_revalidates_nothing(api, validation):
    factories.bucket(api)
    assert api.put(COLLECTION, {"data": {}}).status == 201
    api.patch(BUCKET, {"data": {"collection:schema": COLLECTION_SCHEMA}})
    assert api.get(COLLECTION).status == 200
    assert_invalid(
        api.patch(COLLECTION, {"data": {"title": "t"}}),
        "label",
        "'label' is a required property",
    )


def test_a_deleted_account_leaves_groups_whatever_their_schema(api, kinto_settings, validation):
    """Taking a deleted account out of `members` is the server's upkeep, not a client's
    write: a `group:schema` that the smaller group breaks does not block it."""
    kinto_settings(auth_policies="account basicauth", account_create_principals="system.Everyone")
    for name in ("owner", "bob"):
        assert api.put(f"/accounts/{name}", {"data": {"password": "pw"}}, user=None).status == 201
    owner = api.as_user(("owner", "pw"))
    schema = {"properties": {"members": {"minItems": 1}}}
    assert owner.put("/buckets/club", {"data": {"group:schema": schema}}).status == 201
    group = "/buckets/club/groups/friends"
    assert owner.put(group, {"data": {"members": ["account:bob"]}}).status == 201
    assert owner.put(group, {"data": {"members": []}}).status == 400
    assert api.as_user(("bob", "pw")).delete("/accounts/bob").status == 200
    assert owner.get(group).json["data"]["members"] == []


# --- the stored schemas themselves (switch on or off) --------------------------------------------


@pytest.mark.parametrize(
    "path,field",
    [
        (COLLECTION, "schema"),
        (BUCKET, "record:schema"),
        (BUCKET, "collection:schema"),
        (BUCKET, "group:schema"),
    ],
)
def test_schema_size_is_bounded(api: Api, kinto_settings, path, field):
    factories.bucket(api)
    kinto_settings(schema_max_bytes=1000)
    small = {"enum": ["x" * 900]}
    assert api.put(path, {"data": {field: small}}).status in (200, 201)
    response = api.put(path, {"data": {field: {"enum": ["x" * 1000]}}})
    assert_invalid(response, f"data.{field}", "Schema is larger than 1000 bytes")


def test_nested_schema_error_names_the_innermost_keyword(api):
    """As the reference server: `type'bogus'…`, not the whole path."""
    factories.bucket(api)
    response = api.put(COLLECTION, {"data": {"schema": {"properties": {"a": {"type": "bogus"}}}}})
    assert_invalid(
        response, "data.schema", "type'bogus' is not valid under any of the given schemas"
    )


def test_implicit_collection_of_the_default_bucket_is_validated(api, kinto_settings, validation):
    kinto_settings(default_bucket_enabled=True)
    bucket_id = api.get("/").json["user"]["bucket"]
    api.get("/buckets/default")  # created on first use
    api.patch(f"/buckets/{bucket_id}", {"data": {"collection:schema": COLLECTION_SCHEMA}})
    response = api.post("/buckets/default/collections/notes/records", {"data": {}})
    assert_invalid(response, "label", "'label' is a required property")
    assert api.get(f"/buckets/{bucket_id}/collections/notes").status == 404
    assert api.put("/buckets/default/collections/notes", {"data": {"label": "x"}}).status == 201
    assert api.post("/buckets/default/collections/notes/records", {"data": {}}).status == 201
