"""PATCH in its three flavours and `Response-Behavior` (spec/01, ACL editing of spec/04)."""

from __future__ import annotations

import pytest

from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import Kind, data_without_meta, user_id

kind = resource_kinds.kind

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def obj(api, kind: Kind) -> str:
    """An object `abc` with nested data and a public read ACL; returns its path."""
    response = api.put(
        kind.path("abc"),
        {"data": {"a": {"x": 1, "y": 2}, "b": 1}, "permissions": {"read": ["system.Everyone"]}},
    )
    assert response.status == 201
    return kind.path("abc")


def etag(response) -> int:
    return int(response.headers["ETag"].strip('"'))


def test_patch_json_is_shallow(api, kind: Kind, obj):
    before = api.get(obj)
    response = api.patch(obj, {"data": {"a": {"x": 5}, "b": None, "c": 3}})
    assert response.status == 200
    assert data_without_meta(response.data) == kind.data(a={"x": 5}, b=None, c=3)
    assert etag(response) > etag(before)
    assert api.get(obj).data == response.data


def test_patch_merge_is_recursive_and_null_deletes(api, kind: Kind, obj):
    response = api.patch(obj, {"data": {"a": {"y": None, "z": 3}, "b": None}}, content_type=MERGE)
    assert response.status == 200
    assert data_without_meta(response.data) == kind.data(a={"x": 1, "z": 3})


def test_patch_json_patch(api, kind: Kind, obj):
    operations = [
        {"op": "add", "path": "/data/n", "value": 1},
        {"op": "remove", "path": "/data/b"},
        {"op": "replace", "path": "/data/a/x", "value": 9},
        {"op": "copy", "from": "/data/n", "path": "/data/m"},
        {"op": "move", "from": "/data/m", "path": "/data/o"},
        {"op": "test", "path": "/data/o", "value": 1},
    ]
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.status == 200, response
    assert data_without_meta(response.data) == kind.data(a={"x": 9, "y": 2}, n=1, o=1)


def test_patch_empty_body(api, obj):
    response = api.patch(obj, {})
    assert response.status == 400
    assert response.json["message"] == "Provide at least one of data or permissions"
    assert response.json["details"][0]["name"] == "data"


def test_patch_same_data_still_bumps(api, obj):
    first = api.patch(obj, {"data": {"b": 1}})
    second = api.patch(obj, {"data": {"b": 1}})
    assert etag(second) > etag(first)


@pytest.mark.parametrize(
    "body,content_type",
    [
        ({"data": {"id": "other"}}, "application/json"),
        ({"data": {"id": "other"}}, MERGE),
        ([{"op": "replace", "path": "/data/id", "value": "other"}], JSON_PATCH),
    ],
)
def test_patch_cannot_change_id(api, obj, body, content_type):
    response = api.patch(obj, body, content_type=content_type)
    assert response.status == 400
    assert response.json["message"] == "Object id does not match existing object"
    assert api.get(obj).data["id"] == "abc"


def test_patch_missing_object(api, kind: Kind):
    response = api.patch(kind.path("nope"), {"data": {}})
    if kind.name == "bucket":
        assert response.status == 403
    else:
        assert response.status == 404
        assert response.json["errno"] == 110


# --- ACLs through PATCH -------------------------------------------------------------------------


def test_patch_json_acls(api, obj):
    alice, bob = user_id(api, "alice"), user_id(api, "bob")
    response = api.patch(obj, {"permissions": {"write": [bob], "read": None}})
    # `null` is ignored with plain JSON; given lists replace; the editor stays in write.
    assert response.json["permissions"] == {
        "read": ["system.Everyone"],
        "write": sorted([alice, bob]),
    }


def test_patch_merge_acls(api, obj):
    alice = user_id(api, "alice")
    response = api.patch(obj, {"permissions": {"read": None}}, content_type=MERGE)
    assert response.json["permissions"] == {"write": [alice]}
    response = api.patch(obj, {"permissions": {"read": ["x"]}}, content_type=MERGE)
    assert response.json["permissions"] == {"read": ["x"], "write": [alice]}


def test_patch_json_patch_principals(api, obj):
    alice, bob = user_id(api, "alice"), user_id(api, "bob")
    operations = [
        {"op": "add", "path": f"/permissions/read/{bob}"},
        {"op": "remove", "path": "/permissions/read/system.Everyone"},
        {"op": "add", "path": "/permissions/write/carol"},
    ]
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.status == 200, response
    assert response.json["permissions"] == {"read": [bob], "write": sorted([alice, "carol"])}
    assert api.get(obj).json["permissions"] == response.json["permissions"]
    assert api.as_user(None).get(obj).status == 401


def test_patch_json_patch_replaces_acl_list(api, obj):
    operations = [{"op": "replace", "path": "/permissions/read", "value": ["x", "y"]}]
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.json["permissions"]["read"] == ["x", "y"]


@pytest.mark.parametrize("kind", ["bucket", "collection"], indirect=True)
def test_patch_json_patch_other_acls_need_existing_key(api, kind: Kind, obj):
    name = next(name for name in kind.acl_names if name not in ("read", "write"))
    operations = [{"op": "add", "path": f"/permissions/{name}/bob", "value": "bob"}]
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.status == 400
    assert response.json["message"].startswith("body: JSON Patch operation failed: ")
    operations = [{"op": "add", "path": f"/permissions/{name}", "value": ["bob"]}]
    assert api.patch(obj, operations, content_type=JSON_PATCH).json["permissions"][name] == ["bob"]
    operations = [{"op": "add", "path": f"/permissions/{name}/carol", "value": "carol"}]
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.json["permissions"][name] == ["bob", "carol"]
    operations = [{"op": "remove", "path": f"/permissions/{name}"}]
    assert name not in api.patch(obj, operations, content_type=JSON_PATCH).json["permissions"]


def test_patch_json_patch_unknown_acl(api, obj):
    operations = [{"op": "add", "path": "/permissions/bogus", "value": ["x"]}]
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.status == 400
    assert response.json["details"][0]["name"] == "permissions"


# --- JSON-Patch errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "operations,message",
    [
        (
            [{"op": "test", "path": "/data/b", "value": 2}],
            "body: JSON Patch operation failed: 1 (<class 'int'>) is not equal to tested "
            "value 2 (<class 'int'>)",
        ),
        (
            [{"op": "remove", "path": "/data/nope"}],
            "body: JSON Patch operation failed: can't remove a non-existent object 'nope'",
        ),
        (
            [{"op": "add", "path": "/data/x"}],
            "body: JSON Patch operation failed: The operation does not contain a 'value' member",
        ),
        (
            [{"op": "bogus", "path": "/data/x"}],
            '0.op in body: "bogus" is not one of test, add, remove, replace, move, copy',
        ),
        ([{"path": "/data/x"}], "0.op in body: Required"),
        ([{"op": "add", "value": 1}], "0.path in body: Required"),
        (
            [{"op": "add", "path": 1, "value": 1}],
            "0.path in body: 1 is not a string: {'path': ''}",
        ),
        (
            [{"op": "add", "path": "data/x", "value": 1}],
            "0.path in body: String does not match expected pattern",
        ),
        (
            [{"op": "move", "from": "x", "path": "/data/y"}],
            "0.from in body: String does not match expected pattern",
        ),
        ([1], '0 in body: "1" is not a mapping type: Does not implement dict-like functionality.'),
        (
            [{"op": "add", "path": "/data/y", "value": 1, "extra": 2}],
            "0 in body: Unrecognized keys in mapping: \"{'extra': 2}\"",
        ),
        ({"op": "add"}, "\"{'op': 'add'}\" is not iterable"),
    ],
)
def test_json_patch_errors(api, obj, operations, message):
    before = api.get(obj)
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.status == 400, response
    assert response.json["errno"] == 107
    assert response.json["message"] == message
    assert api.get(obj).json == before.json


def test_json_patch_failing_test_is_atomic(api, obj):
    operations = [
        {"op": "add", "path": "/data/n", "value": 1},
        {"op": "test", "path": "/data/n", "value": 2},
    ]
    assert api.patch(obj, operations, content_type=JSON_PATCH).status == 400
    assert "n" not in api.get(obj).data


@pytest.mark.parametrize("value", [3, None, []])
def test_json_patch_data_must_stay_an_object(api, obj, value):
    operations = [{"op": "replace", "path": "/data", "value": value}]
    response = api.patch(obj, operations, content_type=JSON_PATCH)
    assert response.status == 400


# --- Response-Behavior ------------------------------------------------------------------------


def test_response_behavior_light(api, obj):
    response = api.patch(obj, {"data": {"b": 1, "c": 2}}, headers={"Response-Behavior": "light"})
    assert response.status == 200
    # Only what changed (b was already 1), and no permissions.
    assert response.json == {"data": {"c": 2}}
    assert response.headers["ETag"] == f'"{api.get(obj).data["last_modified"]}"'


def test_response_behavior_diff(api, obj):
    response = api.patch(
        obj,
        {"data": {"b": 2, "last_modified": 1}},
        headers={"Response-Behavior": "diff"},
    )
    # b changed to what was sent; last_modified changed to something else than was sent.
    assert list(response.json) == ["data"]
    assert list(response.data) == ["last_modified"]


def test_response_behavior_full(api, obj):
    response = api.patch(obj, {"data": {"c": 2}}, headers={"Response-Behavior": "full"})
    assert response.json == api.get(obj).json


def test_response_behavior_json_patch_light(api, obj):
    operations = [{"op": "add", "path": "/data/n", "value": 1}]
    response = api.patch(
        obj, operations, content_type=JSON_PATCH, headers={"Response-Behavior": "light"}
    )
    assert set(response.data) == {"n", "last_modified"}


@pytest.mark.parametrize("value", ["bogus", "LIGHT"])
def test_response_behavior_invalid(api, obj, value):
    response = api.patch(obj, {"data": {"c": 2}}, headers={"Response-Behavior": value})
    assert response.status == 400
    assert response.json["message"] == (
        f'Response-Behavior in header: "{value}" is not one of full, light, diff'
    )
    assert "c" not in api.get(obj).data
