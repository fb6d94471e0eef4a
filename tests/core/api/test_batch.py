"""`POST /batch` (spec/06): validation, defaults, sub-request construction, response shape,
transactions (our documented deviation: one savepoint per sub-request) and merged events."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError

from kinto_django import jsonutil
from kinto_django.core import actions
from kinto_django.core.signals import resource_changed
from tests import factories
from tests.asgi import asgi_request
from tests.conftest import basic

RECORDS = factories.RECORDS

# Paths of one object of each resource type, created under bucket "shop" by `tree`.
RESOURCE_PATHS = {
    "bucket": "/buckets/shop",
    "collection": "/buckets/shop/collections/orders",
    "group": "/buckets/shop/groups/staff",
    "record": "/buckets/shop/collections/orders/records/r1",
}


def batch(api: Any, body: Any, **kwargs: Any):
    return api.post("/batch", body, **kwargs)


def statuses(response: Any) -> list[int]:
    assert response.status == 200, response
    return [item["status"] for item in response.json["responses"]]


@pytest.fixture
def tree(api):
    factories.collection(api)
    factories.group(api)
    factories.record(api, {"qty": 1}, record_id="r1")


# --- body validation -----------------------------------------------------------------------

NOT_MAPPING = "is not a mapping type: Does not implement dict-like functionality."
METHODS = "GET, HEAD, DELETE, TRACE, POST, PUT, PATCH"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, [("requests", "Required")]),
        ({"requests": {}}, [("requests", '"{}" is not iterable')]),
        ({"requests": None}, [("requests", '"None" is not iterable')]),
        ({"requests": [], "foo": 1}, [("", "Unrecognized keys in mapping: \"{'foo': 1}\"")]),
        ({"requests": [1]}, [("requests.0", f'"1" {NOT_MAPPING}')]),
        ({"requests": [{}]}, [("requests.0.path", "Required")]),
        ({"requests": [{"path": ""}]}, [("requests.0.path", "Required")]),
        (
            {"requests": [{"path": "x"}]},
            [("requests.0.path", "String does not match expected pattern")],
        ),
        (
            {"requests": [{"path": 1}]},
            [("requests.0.path", "1 is not a string: {'path': ''}")],
        ),
        (
            {"requests": [{"path": "/", "method": "get"}]},
            [("requests.0.method", f'"get" is not one of {METHODS}')],
        ),
        (
            {"requests": [{"path": "/", "method": True}]},
            [("requests.0.method", "True is not a string: {'method': ''}")],
        ),
        (
            {"requests": [{"path": "/", "method": "OPTIONS"}]},
            [("requests.0.method", f'"OPTIONS" is not one of {METHODS}')],
        ),
        (
            {"requests": [{"path": "/", "headers": {"a": 1}}]},
            [("requests.0.headers", "{'a': 1} contains non string value")],
        ),
        (
            {"requests": [{"path": "/", "headers": []}]},
            [("requests.0.headers", f'"[]" {NOT_MAPPING}')],
        ),
        (
            {"requests": [{"path": "/", "body": []}]},
            [("requests.0.body", f'"[]" {NOT_MAPPING}')],
        ),
        (
            {"requests": [{"path": "/", "body": None}]},
            [("requests.0.body", f'"None" {NOT_MAPPING}')],
        ),
        (
            {"requests": [{"path": "/", "foo": 1}]},
            [("requests.0", "Unrecognized keys in mapping: \"{'foo': 1}\"")],
        ),
        (
            {"defaults": {"foo": 1}, "requests": []},
            [("defaults", "Unrecognized keys in mapping: \"{'foo': 1}\"")],
        ),
        ({"defaults": [], "requests": []}, [("defaults", f'"[]" {NOT_MAPPING}')]),
        ({"defaults": None, "requests": []}, [("defaults", f'"None" {NOT_MAPPING}')]),
        (
            {"defaults": {"path": "x"}, "requests": []},
            [("defaults.path", "String does not match expected pattern")],
        ),
        # Defaults are merged before validation: a bad default is reported for every request.
        (
            {"defaults": {"method": "get"}, "requests": [{"path": "/"}]},
            [
                ("defaults.method", f'"get" is not one of {METHODS}'),
                ("requests.0.method", f'"get" is not one of {METHODS}'),
            ],
        ),
        # Every error of every request is reported, in schema order.
        (
            {"requests": [{"path": "x", "method": "get"}, {"path": "/", "body": 3}]},
            [
                ("requests.0.method", f'"get" is not one of {METHODS}'),
                ("requests.0.path", "String does not match expected pattern"),
                ("requests.1.body", f'"3" {NOT_MAPPING}'),
            ],
        ),
    ],
)
def test_invalid_bodies_are_400_with_every_error(api, body, details):
    response = batch(api, body)
    assert response.status == 400, response
    expected = [{"location": "body", "name": n, "description": d} for n, d in details]
    assert response.json["details"] == expected
    assert response.json["errno"] == 107
    assert response.json["error"] == "Invalid parameters"


def test_validation_message_follows_the_rule(api):
    response = batch(api, {"requests": [{"path": "/", "method": "get"}]})
    assert response.json["message"] == f'requests.0.method in body: "get" is not one of {METHODS}'
    response = batch(api, {"requests": [{"path": "/", "foo": 1}]})
    assert (
        response.json["message"]
        == "requests.0 in body: Unrecognized keys in mapping: \"{'foo': 1}\""
    )
    response = batch(api, {"requests": [], "foo": 1})
    assert response.json["message"] == "Unrecognized keys in mapping: \"{'foo': 1}\""


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"{"])
def test_non_object_bodies_are_400(api, raw):
    response = api.post("/batch", raw=raw)
    assert response.status == 400
    assert response.json["errno"] == 107


def test_method_null_or_empty_means_get(api, tree):
    response = batch(
        api,
        {
            "requests": [
                {"path": "/buckets/shop", "method": None},
                {"path": "/buckets/shop", "method": ""},
            ]
        },
    )
    assert statuses(response) == [200, 200]


def test_empty_requests(api):
    response = batch(api, {"requests": []})
    assert response.status == 200
    assert response.json == {"responses": []}


def test_wrong_content_type_is_415(anonymous):
    response = anonymous.post("/batch", {"requests": []}, content_type="text/plain")
    assert response.status == 415
    assert response.json["details"][0]["name"] == "Content-Type"


def test_accept_header_is_not_negotiated_for_the_batch_itself(api):
    response = batch(api, {"requests": []}, headers={"Accept": "text/html"})
    assert response.status == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_only_post(api, method):
    response = api.request(method, "/batch", {"requests": []})
    assert response.status == 405
    assert response.headers["Allow"] == "POST, OPTIONS"


# --- limits --------------------------------------------------------------------------------


def test_default_limit_is_25(api):
    response = batch(api, {"requests": [{"path": "/"}] * 26})
    assert response.status == 400
    assert response.json["message"] == "Number of requests is limited to 25"
    assert response.json["details"] == [
        {
            "location": "body",
            "name": "requests",
            "description": "Number of requests is limited to 25",
        }
    ]
    assert statuses(batch(api, {"requests": [{"path": "/"}] * 25})) == [200] * 25


def test_limit_is_a_setting(api, kinto_settings):
    kinto_settings(batch_max_requests=2)
    assert batch(api, {"requests": [{"path": "/"}] * 3}).json["message"] == (
        "Number of requests is limited to 2"
    )
    assert statuses(batch(api, {"requests": [{"path": "/"}] * 2})) == [200, 200]


@pytest.mark.parametrize("value", [0, "0", "none", ""])
def test_zero_or_none_means_unlimited(api, kinto_settings, value):
    kinto_settings(batch_max_requests=value)
    assert statuses(batch(api, {"requests": [{"path": "/"}] * 30})) == [200] * 30


def test_limit_is_checked_before_recursion(api):
    response = batch(api, {"requests": [{"path": "/batch"}] + [{"path": "/"}] * 25})
    assert response.json["message"] == "Number of requests is limited to 25"


@pytest.mark.parametrize(
    "path",
    [
        "/batch",
        "/v1/batch",
        "/batch/",
        "/buckets?x=/batch",
        "/batchy",
        # Percent-encoded, the path is still the batch endpoint's once decoded.
        "/bat%63h",
        "/v1/%62atch",
        "/%62%61%74%63%68",
    ],
)
def test_recursion_is_forbidden(api, path):
    response = batch(api, {"requests": [{"path": "/"}, {"path": path}]})
    assert response.status == 400
    assert response.json["message"] == (
        "requests in body: Recursive call on /batch endpoint is forbidden."
    )


@pytest.mark.parametrize("user", ["alice", None])
def test_a_batch_reached_by_a_redirect_does_not_run_inside_the_batch(api, user):
    """`/bat%63h/` is no batch path until the trailing-slash redirect is followed: the
    batch endpoint itself refuses to run inside a batch, for anybody."""
    inner = {"requests": [{"path": "/"}] * 2}
    response = batch(
        api.as_user(user),
        {
            "requests": [
                {"path": "/", "method": "GET"},
                {"path": "/bat%63h/", "method": "POST", "body": inner},
            ]
        },
    )
    assert response.status == 200
    first, nested = response.json["responses"]
    assert first["status"] == 200
    assert nested["status"] == 400
    assert nested["body"]["message"] == (
        "requests in body: Recursive call on /batch endpoint is forbidden."
    )


def test_sub_requests_are_capped_redirects_included(api, kinto_settings):
    """`batch_max_subrequests` bounds what one batch runs: a batch over it is refused and
    rolled back, whatever it wrote before."""
    kinto_settings(batch_max_subrequests=3)
    writes = [{"method": "PUT", "path": f"/buckets/b{i}"} for i in range(3)]
    assert statuses(batch(api, {"requests": writes})) == [201, 201, 201]
    more = [{"method": "PUT", "path": f"/buckets/c{i}"} for i in range(2)]
    # Each trailing-slash path costs a redirect as well: 2 + 2 sub-requests run.
    redirected = [{"method": "GET", "path": "/buckets/b0/"}, *more]
    response = batch(api, {"requests": redirected})
    assert response.status == 400
    assert response.json["message"] == "This batch runs more sub-requests than allowed."
    assert api.get("/buckets/c0").status == 403  # nothing of it was kept


# --- sub-request construction --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/buckets/shop", "/v1/buckets/shop"])
def test_version_prefix_is_added_when_absent(api, tree, path):
    item = batch(api, {"requests": [{"path": path}]}).json["responses"][0]
    assert item["path"] == "/v1/buckets/shop"
    assert item["status"] == 200
    assert item["body"]["data"]["id"] == "shop"


@pytest.mark.parametrize("resource", list(RESOURCE_PATHS))
def test_sub_requests_reach_every_resource(api, tree, resource):
    path = RESOURCE_PATHS[resource]
    response = batch(
        api,
        {
            "requests": [
                {"path": path},
                {"path": path, "method": "PATCH", "body": {"data": {"note": "x"}}},
                {"path": path, "method": "HEAD"},
                {"path": path, "method": "DELETE"},
                {"path": path},
            ]
        },
    )
    assert statuses(response)[:4] == [200, 200, 200, 200]
    items = response.json["responses"]
    assert items[1]["body"]["data"]["note"] == "x"
    assert items[2]["body"] == ""
    assert items[3]["body"]["data"]["deleted"] is True
    assert items[4]["status"] in (403, 404)  # gone (or its parent is gone)


def test_defaults_are_merged_recursively_request_wins(api):
    factories.collection(api)
    response = batch(
        api,
        {
            "defaults": {
                "method": "PUT",
                "headers": {"If-None-Match": "*", "X-Ignored": "1"},
                "body": {"data": {"a": 1, "nested": {"x": 1}}, "permissions": {"read": ["bob"]}},
            },
            "requests": [
                {"path": f"{RECORDS}/r1"},
                {"path": f"{RECORDS}/r2", "body": {"data": {"a": 2, "nested": {"y": 2}}}},
                {"path": f"{RECORDS}/r1", "method": "GET", "headers": {"If-None-Match": '"1"'}},
            ],
        },
    )
    assert statuses(response) == [201, 201, 200]
    first, second, read = response.json["responses"]
    assert first["body"]["data"]["a"] == 1
    assert first["body"]["permissions"]["read"] == ["bob"]
    assert second["body"]["data"]["a"] == 2
    assert second["body"]["data"]["nested"] == {"x": 1, "y": 2}
    assert read["body"]["data"]["nested"] == {"x": 1}


def test_defaults_if_none_match_example_of_the_spec(api):
    factories.collection(api)
    response = batch(
        api,
        {
            "defaults": {"method": "PUT", "headers": {"If-None-Match": "*"}},
            "requests": [
                {"path": f"{RECORDS}/a1", "body": {"data": {"qty": 1}}},
                {"path": f"{RECORDS}/a1", "body": {"data": {"qty": 2}}},
                {"path": RECORDS, "method": "GET"},
            ],
        },
    )
    assert statuses(response) == [201, 412, 412]
    first, second, _ = response.json["responses"]
    assert second["body"]["details"]["existing"] == first["body"]["data"]


def test_defaults_path_applies_to_requests_without_one(api, tree):
    response = batch(
        api, {"defaults": {"path": "/buckets/shop"}, "requests": [{}, {"method": "HEAD"}]}
    )
    assert statuses(response) == [200, 200]


def test_outer_headers_are_copied_and_overridden(api, tree):
    response = batch(
        api,
        {
            "requests": [
                {"path": "/buckets/shop"},
                {"path": "/buckets/shop", "headers": {"Authorization": basic("mallory")}},
                {"path": "/buckets/shop", "headers": {"If-None-Match": "*"}},
            ]
        },
    )
    assert statuses(response) == [200, 403, 412]


def test_outer_precondition_headers_apply_to_every_sub_request(api, tree):
    response = batch(
        api,
        {"requests": [{"path": "/buckets/shop"}, {"path": RECORDS}]},
        headers={"If-None-Match": "*"},
    )
    assert statuses(response) == [412, 412]


def test_no_authentication_needed_for_the_batch_itself(anonymous):
    response = batch(anonymous, {"requests": [{"path": "/"}, {"path": "/buckets/shop"}]})
    assert statuses(response) == [200, 401]
    root, denied = response.json["responses"]
    assert "user" not in root["body"]
    assert denied["headers"]["WWW-Authenticate"] == 'Basic realm="Realm"'


def test_sub_request_authentication(anonymous, tree):
    response = batch(
        anonymous,
        {"requests": [{"path": "/buckets/shop", "headers": {"Authorization": basic("alice")}}]},
    )
    assert statuses(response) == [200]


def test_body_content_type_is_forced_to_json(api, tree):
    """A merge-patch content type is replaced: the PATCH degrades to a plain JSON merge."""
    response = batch(
        api,
        {
            "requests": [
                {
                    "path": "/buckets/shop",
                    "method": "PATCH",
                    "headers": {"Content-Type": "application/merge-patch+json"},
                    "body": {"data": {"a": 1, "b": None}},
                },
                {
                    "path": "/buckets/shop",
                    "method": "PATCH",
                    "headers": {"Content-Type": "text/plain"},
                    "body": {"data": {"c": 1}},
                },
            ]
        },
    )
    assert statuses(response) == [200, 200]
    data = response.json["responses"][1]["body"]["data"]
    assert data["a"] == 1
    assert data["c"] == 1
    assert "b" in data and data["b"] is None


def test_without_body_the_sub_request_content_type_is_kept(api, tree):
    response = batch(
        api,
        {
            "requests": [
                {
                    "path": "/buckets/shop",
                    "method": "PUT",
                    "headers": {"Content-Type": "text/plain"},
                }
            ]
        },
    )
    assert statuses(response) == [415]


def test_redirects_are_followed(api, tree):
    response = batch(
        api,
        {
            "requests": [
                {"path": "/buckets/shop/"},
                {"path": "/buckets/shop/collections/?_limit=1"},
            ]
        },
    )
    assert statuses(response) == [200, 200]
    bucket, collections = response.json["responses"]
    assert bucket["path"] == "/v1/buckets/shop/"
    assert bucket["body"]["data"]["id"] == "shop"
    assert collections["body"]["data"][0]["id"] == "orders"


# --- response shape ------------------------------------------------------------------------


def test_response_shape(api, tree):
    response = batch(
        api,
        {
            "requests": [
                {"path": f"{RECORDS}/r1?_fields=qty"},
                {"path": f"{RECORDS}/r%C3%A9", "method": "PUT", "body": {"data": {}}},
                {"path": f"{RECORDS}/r1", "method": "HEAD"},
                {"path": "/nowhere"},
                {"path": "/", "method": "TRACE"},
            ]
        },
    )
    assert statuses(response) == [200, 400, 200, 404, 405]
    read, bad_id, head, unknown, trace = response.json["responses"]
    assert read["path"] == "/v1/buckets/shop/collections/orders/records/r1"
    assert read["body"]["data"]["qty"] == 1
    headers = read["headers"]
    assert headers["ETag"] == f'"{read["body"]["data"]["last_modified"]}"'
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"].isdigit()
    assert all(isinstance(value, str) for value in headers.values())
    assert bad_id["path"] == "/v1/buckets/shop/collections/orders/records/ré"
    assert bad_id["body"]["errno"] == 107
    assert head["body"] == ""
    assert head["headers"]["ETag"] == headers["ETag"]
    assert unknown["body"]["errno"] == 111
    assert trace["headers"]["Allow"] == "GET, HEAD, OPTIONS"


def test_sub_response_exposes_headers_per_endpoint_kind(api, tree):
    response = batch(api, {"requests": [{"path": RECORDS}, {"path": f"{RECORDS}/r1"}]})
    plural, obj = response.json["responses"]
    assert "Next-Page" in plural["headers"]["Access-Control-Expose-Headers"]
    assert "Next-Page" not in obj["headers"]["Access-Control-Expose-Headers"]
    assert "ETag" in obj["headers"]["Access-Control-Expose-Headers"]


def test_batch_response_headers(api):
    response = batch(api, {"requests": []}, headers={"Origin": "https://app.example.com"})
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- transactions --------------------------------------------------------------------------


def test_client_errors_are_inline_and_processing_continues(api):
    factories.collection(api)
    response = batch(
        api,
        {
            "requests": [
                {"path": f"{RECORDS}/a", "method": "PUT", "body": {"data": {}}},
                {"path": f"{RECORDS}/b", "method": "PUT", "body": {"data": {}, "bad": 1}},
                {"path": f"{RECORDS}/zz", "method": "DELETE"},
                {"path": "/buckets/other", "headers": {"Authorization": basic("bob")}},
                {"path": f"{RECORDS}/a", "method": "PUT", "headers": {"If-Match": '"1"'}},
                {"path": f"{RECORDS}/c", "method": "PUT", "body": {"data": {}}},
            ]
        },
    )
    assert statuses(response) == [201, 400, 404, 403, 412, 201]
    ids = {record["id"] for record in api.get(RECORDS).data}
    assert ids == {"a", "c"}


@pytest.fixture
def failing_create(monkeypatch):
    """`create_object` that writes, then fails with `exception` for records named `boom*`."""

    def install(exception: Exception) -> None:
        original = actions.create_object

        def create(ctx, model, parent, object_id, *args, **kwargs):
            result = original(ctx, model, parent, object_id, *args, **kwargs)
            if str(object_id).startswith("boom"):
                raise exception
            return result

        monkeypatch.setattr(actions, "create_object", create)

    return install


def test_server_error_aborts_and_rolls_back_everything(api, failing_create):
    factories.collection(api)
    failing_create(RuntimeError("disk on fire"))
    response = batch(
        api,
        {
            "requests": [
                {"path": f"{RECORDS}/a", "method": "PUT", "body": {"data": {}}},
                {"path": f"{RECORDS}/boom", "method": "PUT", "body": {"data": {}}},
                {"path": f"{RECORDS}/c", "method": "PUT", "body": {"data": {}}},
            ]
        },
    )
    assert response.status == 500
    assert response.json["errno"] == 999
    assert "info" in response.json
    assert api.get(RECORDS).data == []


def test_conflict_rolls_back_only_its_sub_request(api, failing_create):
    """Our deviation (README, protocol notes): each sub-request has its own savepoint."""
    factories.collection(api)
    failing_create(IntegrityError("duplicate key"))
    response = batch(
        api,
        {
            "requests": [
                {"path": f"{RECORDS}/a", "method": "PUT", "body": {"data": {}}},
                {"path": f"{RECORDS}/boom", "method": "PUT", "body": {"data": {}}},
                {"path": f"{RECORDS}/c", "method": "PUT", "body": {"data": {}}},
            ]
        },
    )
    assert statuses(response) == [201, 409, 201]
    conflict = response.json["responses"][1]
    assert conflict["body"]["errno"] == 122
    assert conflict["headers"]["Retry-After"] == "3"
    assert {record["id"] for record in api.get(RECORDS).data} == {"a", "c"}


def test_read_only_mode_refuses_batch(api, kinto_settings):
    kinto_settings(readonly=True)
    response = batch(api, {"requests": [{"path": "/"}]})
    assert response.status == 405
    assert response.json["errno"] == 115


# --- events --------------------------------------------------------------------------------


@pytest.fixture
def events():
    received: list[dict[str, Any]] = []

    def receiver(sender, payload, impacted_objects, **kwargs):
        received.append({"payload": payload, "impacted_objects": impacted_objects})

    resource_changed.connect(receiver)
    yield received
    resource_changed.disconnect(receiver)


def test_events_are_merged_per_resource_and_action(
    api, events, django_capture_on_commit_callbacks
):
    factories.collection(api)
    with django_capture_on_commit_callbacks(execute=True):
        response = batch(
            api,
            {
                "requests": [
                    {"path": RECORDS, "method": "POST", "body": {"data": {"n": 1}}},
                    {"path": RECORDS, "method": "POST", "body": {"data": {"n": 2}}},
                    {"path": "/buckets/shop/groups/g", "method": "PUT", "body": {"data": {}}},
                ]
            },
        )
    assert statuses(response) == [201, 201, 201]
    by_resource = {event["payload"]["resource_name"]: event for event in events}
    assert set(by_resource) == {"record", "group"}
    created = [obj["new"]["n"] for obj in by_resource["record"]["impacted_objects"]]
    assert created == [1, 2]
    assert by_resource["record"]["payload"]["action"] == "create"


def test_events_of_failed_sub_requests_are_dropped(
    api, events, failing_create, django_capture_on_commit_callbacks
):
    factories.collection(api)
    failing_create(IntegrityError("duplicate key"))
    with django_capture_on_commit_callbacks(execute=True):
        response = batch(
            api,
            {
                "requests": [
                    {"path": f"{RECORDS}/a", "method": "PUT", "body": {"data": {}}},
                    {"path": f"{RECORDS}/boom", "method": "PUT", "body": {"data": {}}},
                ]
            },
        )
    assert statuses(response) == [201, 409]
    impacted = [obj["new"]["id"] for event in events for obj in event["impacted_objects"]]
    assert impacted == ["a"]


def test_no_event_when_the_batch_aborts(
    api, events, failing_create, django_capture_on_commit_callbacks
):
    factories.collection(api)
    failing_create(RuntimeError("boom"))
    with django_capture_on_commit_callbacks(execute=True):
        response = batch(
            api,
            {
                "requests": [
                    {"path": f"{RECORDS}/a", "method": "PUT", "body": {"data": {}}},
                    {"path": f"{RECORDS}/boom", "method": "PUT", "body": {"data": {}}},
                ]
            },
        )
    assert response.status == 500
    assert events == []


# --- what sub-requests share: principals, parents, locks --------------------------------------


def test_parents_looked_up_once_are_forgotten_when_a_parent_changes(api):
    """Parents are looked up once per batch (spec/06), yet a sub-request that deletes or
    recreates a parent is seen by the following ones."""
    collection = "/buckets/shop/collections/orders"
    factories.collection(api)
    response = batch(
        api,
        {
            "requests": [
                {"method": "PUT", "path": f"{collection}/records/a", "body": {"data": {}}},
                {"method": "DELETE", "path": collection},
                {"method": "PUT", "path": f"{collection}/records/b", "body": {"data": {}}},
                {"method": "PUT", "path": collection, "body": {"data": {"v": 2}}},
                {"method": "PUT", "path": f"{collection}/records/c", "body": {"data": {}}},
                {"method": "GET", "path": f"{collection}/records"},
            ]
        },
    )
    assert statuses(response) == [201, 200, 404, 201, 201, 200]
    listed = response.json["responses"][5]["body"]["data"]
    assert [record["id"] for record in listed] == ["c"]  # nothing of the deleted collection
    assert api.get(collection).data["v"] == 2


def test_a_failed_sub_request_undoes_its_implicit_parents(api, kinto_settings):
    """The personal bucket and collection created for a sub-request that then fails are
    rolled back with it: later sub-requests must not find them in what the batch remembers."""
    kinto_settings(default_bucket_enabled=True)
    records = "/buckets/default/collections/tasks/records"
    requests = [
        {
            "method": "PUT",
            "path": f"{records}/a",
            "body": {"data": {}},
            "headers": {"If-Match": '"1"'},
        },
        {"method": "GET", "path": "/buckets/default/collections/tasks"},
        {"method": "PUT", "path": f"{records}/b", "body": {"data": {}}},
        {"method": "GET", "path": records},
    ]
    response = batch(api, {"requests": requests})
    assert statuses(response) == [412, 200, 201, 200]
    assert [r["id"] for r in response.json["responses"][3]["body"]["data"]] == ["b"]


def test_principals_are_computed_once_per_batch(api):
    """Joining a group grants its principal from the next request, not to the later
    sub-requests of the batch that joined it (spec/04: principals are computed once)."""
    carol = api.as_user("carol")
    alice_id = api.get("/").json["user"]["id"]
    group = "/buckets/carols/groups/team"
    records = "/buckets/carols/collections/shared/records"
    assert carol.put("/buckets/carols").status == 201
    assert (
        carol.put(group, {"data": {"members": []}, "permissions": {"write": [alice_id]}}).status
        == 201
    )
    carol.put("/buckets/carols/collections/shared", {"permissions": {"write": [group]}})
    response = batch(
        api,
        {
            "requests": [
                {"method": "PUT", "path": group, "body": {"data": {"members": [alice_id]}}},
                {"method": "PUT", "path": f"{records}/x", "body": {"data": {}}},
            ]
        },
    )
    assert statuses(response) == [200, 403]
    assert api.put(f"{records}/x", {"data": {}}).status == 201


@pytest.mark.parametrize(
    "path", ["/__heartbeat__", "/__lbheartbeat__", "/__version__", "/__api__", "/contribute.json"]
)
def test_utility_endpoints_do_not_run_in_a_batch(anonymous, path):
    """A heartbeat waits for every backend (seconds, when one is down): in a batch, that
    wait would be spent holding the batch's locks. Anonymous callers included."""
    response = batch(anonymous, {"requests": [{"path": "/"}, {"path": path}]})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "requests"
    assert "cannot run in a batch" in response.json["message"]


def test_a_batch_of_reads_holds_no_transaction(api, tree):
    """Reads need no atomicity: a batch of them runs outside any transaction, so that it
    holds no lock (on SQLite, the database's one write lock) while it runs."""
    from django.db import connection

    seen = []
    from kinto_django.core.api.endpoints import batch as batch_module

    original = batch_module.dispatch

    def watching(request):
        seen.append(connection.in_atomic_block)
        return original(request)

    batch_module.dispatch = watching
    try:
        reads = batch(api, {"requests": [{"path": "/buckets/shop"}, {"path": "/"}]})
    finally:
        batch_module.dispatch = original
    assert statuses(reads) == [200, 200]
    # The test itself runs in a transaction: the batch added none of its own.
    outer = connection.in_atomic_block
    assert seen == [outer, outer]


def test_a_writing_batch_stops_when_it_has_held_its_locks_too_long(api, tree, kinto_settings):
    """`batch_max_lock_seconds` bounds how long a writing batch makes other writers wait:
    past it, the batch stops before its next sub-request and everything is rolled back."""
    kinto_settings(batch_max_lock_seconds="0.000001")
    writes = [{"method": "PUT", "path": f"/buckets/shop/collections/slow{i}"} for i in range(2)]
    response = batch(api, {"requests": writes})
    assert response.status == 503
    assert "longer than" in response.json["message"]
    assert api.get("/buckets/shop/collections/slow0").status == 404
    kinto_settings(batch_max_lock_seconds="0")
    assert statuses(batch(api, {"requests": writes})) == [201, 201]


@pytest.mark.django_db(transaction=True)
def test_sub_requests_under_djangos_asgi_handler_build_absolute_urls(api):
    """Served by Django's own ASGI handler (a site without the bridge), the outer request has
    no WSGI scheme: sub-requests must still build `http://host/...` links."""
    from django.core.asgi import get_asgi_application

    factories.collection(api)
    for number in range(2):
        factories.record(api, {"n": number})
    body = jsonutil.dumps({"requests": [{"path": f"{RECORDS}?_limit=1"}]})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", basic("alice").encode()),
    ]
    status, _, content = asgi_request(
        get_asgi_application(), "POST", b"/v1/batch", body=body, headers=headers
    )
    assert status == 200, content
    (page,) = jsonutil.loads(content)["responses"]
    assert page["status"] == 200, page
    assert page["headers"]["Next-Page"].startswith("http://testserver/v1/buckets/")
