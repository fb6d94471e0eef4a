"""Request bodies of the four resources: shape, ACLs, ids and their error messages (spec/01)."""

from __future__ import annotations

import pytest

from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import Kind

kind = resource_kinds.kind

MAPPING = "is not a mapping type: Does not implement dict-like functionality."


def assert_invalid(response, message: str, name=None, location: str = "body") -> None:
    assert response.status == 400, response
    assert response.json["errno"] == 107
    assert response.json["error"] == "Invalid parameters"
    assert response.json["message"] == message
    assert any(
        detail["location"] == location and detail["name"] == name
        for detail in response.json["details"]
    ), response.json["details"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(
    "body,message,name",
    [
        (
            {"data": {}, "perms": {}},
            "Unrecognized keys in mapping: \"{'perms': {}}\"",
            "",
        ),
        ({"data": []}, f'data in body: "[]" {MAPPING}', "data"),
        ({"data": "x"}, f'data in body: "x" {MAPPING}', "data"),
        ({"data": None}, f'data in body: "None" {MAPPING}', "data"),
        ({"permissions": None}, f'permissions in body: "None" {MAPPING}', "permissions"),
        ({"permissions": []}, f'permissions in body: "[]" {MAPPING}', "permissions"),
        (
            {"permissions": {"read": "x"}},
            'permissions.read in body: "x" is not iterable',
            "permissions.read",
        ),
        (
            {"permissions": {"read": [1]}},
            "permissions.read.0 in body: 1 is not a string: {'': ''}",
            "permissions.read.0",
        ),
        (
            {"permissions": {"read": [""]}},
            "permissions.read.0 in body: Required",
            "permissions.read.0",
        ),
    ],
)
def test_invalid_envelope(api, kind: Kind, method, body, message, name):
    path = kind.plural if method == "POST" else kind.path("abc")
    assert_invalid(api.request(method, path, body), message, name)


def test_unknown_acl_name(api, kind: Kind):
    response = api.post(kind.plural, {"permissions": {"create": []}})
    assert_invalid(
        response,
        f'permissions in body: "create" is not one of {", ".join(kind.acl_names)}',
        "permissions",
    )


def test_data_and_permissions_errors_reported_together(api, kind: Kind):
    api.put(kind.path("abc"))
    response = api.patch(kind.path("abc"), {"data": None, "permissions": None})
    assert_invalid(response, f'data in body: "None" {MAPPING}', "data")
    assert {d["name"] for d in response.json["details"]} == {"data", "permissions"}


def test_body_array_is_400(api, kind: Kind):
    response = api.post(kind.plural, [1, 2])
    assert_invalid(response, f'"[1, 2]" {MAPPING}', "")


@pytest.mark.parametrize("raw", [b"{bad", b"12", b'"x"'])
def test_body_not_an_object(api, kind: Kind, raw):
    response = api.post(kind.plural, raw=raw)
    assert response.status == 400
    assert response.json["errno"] == 107
    assert [d["description"] for d in response.json["details"]][1] == "Required"


def test_principal_too_long(api, kind: Kind):
    response = api.post(kind.plural, {"permissions": {"read": ["x" * 301]}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "permissions.read.0"


@pytest.mark.parametrize("value", ["abc", 1.5, True, None, [1], {"a": 1}])
def test_non_integer_last_modified_is_dropped(api, kind: Kind, value):
    response = api.post(kind.plural, {"data": {"last_modified": value, "n": 1}})
    assert response.status == 201
    assert isinstance(response.data["last_modified"], int)
    assert response.data["last_modified"] > 10**12
    assert response.data["n"] == 1


@pytest.mark.parametrize("value", [-1, 2**53])
def test_out_of_range_last_modified_is_rejected(api, kind: Kind, value):
    response = api.post(kind.plural, {"data": {"last_modified": value}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "data.last_modified"


# --- ids ---------------------------------------------------------------------------------------

INVALID_IDS = ["bad~id", "_abc", "-abc", "a.b", "a b", "é"]


@pytest.mark.parametrize("bad", [*INVALID_IDS, 12, None, ""])
def test_invalid_posted_id(api, kind: Kind, bad):
    response = api.post(kind.plural, {"data": {"id": bad}})
    if bad is None:
        # `null` is "no id": one is generated.
        assert response.status == 201
        return
    assert response.status == 400
    assert response.json == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "path: Invalid object id",
        "details": [{"location": "path", "name": None, "description": "Invalid object id"}],
    }


def test_invalid_posted_id_is_checked_before_authorization(api, kind: Kind):
    for user in ("bob", None):
        response = api.as_user(user).post(kind.plural, {"data": {"id": "bad~id"}})
        assert response.status == 400


@pytest.mark.parametrize("bad", INVALID_IDS)
def test_invalid_url_id(api, kind: Kind, bad):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = api.request(method, kind.path(bad), {"data": {}})
        if kind.name == "bucket" and method != "PUT":
            # Nothing grants reading an absent bucket: authorization fails first.
            assert response.status == 403
            continue
        assert response.status == 400, (method, response)
        assert response.json["message"] == "path: Invalid object id"


def test_invalid_url_id_is_checked_after_authorization(api, kind: Kind):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        # Any authenticated user may create buckets: bob's PUT reaches the id check.
        stranger = 400 if (kind.name, method) == ("bucket", "PUT") else 403
        assert api.as_user("bob").request(method, kind.path("bad~id"), {}).status == stranger
        assert api.as_user(None).request(method, kind.path("bad~id"), {}).status == 401


def test_id_length_limits(api, kind: Kind):
    limit = 128 if kind.name == "record" else 64
    assert api.put(kind.path("a" * limit)).status == 201
    assert api.put(kind.path("a" * (limit + 1))).status == 400
    assert api.post(kind.plural, {"data": {"id": "b" * (limit + 1)}}).status == 400


def test_id_length_limits_are_settings(api, kind: Kind, kinto_settings):
    if kind.name == "record":
        kinto_settings(max_record_id_length=5)
    else:
        kinto_settings(max_id_length=5)
    assert api.put(kind.path("abcde")).status == 201
    assert api.put(kind.path("abcdef")).status == 400


def test_ids_are_case_sensitive_and_scoped(api, kind: Kind):
    assert api.put(kind.path("Abc"), {"data": {"n": 1}}).status == 201
    assert api.put(kind.path("abc"), {"data": {"n": 2}}).status == 201
    assert api.get(kind.path("Abc")).data["n"] == 1


def test_same_id_in_other_parents(api):
    api.put("/buckets/one")
    api.put("/buckets/two")
    api.put("/buckets/one/collections/c", {"data": {"n": 1}})
    api.put("/buckets/one/groups/c", {"data": {"n": 2}})
    assert api.put("/buckets/two/collections/c", {"data": {"n": 3}}).status == 201
    assert api.get("/buckets/one/collections/c").data["n"] == 1
    assert api.get("/buckets/one/groups/c").data["n"] == 2
