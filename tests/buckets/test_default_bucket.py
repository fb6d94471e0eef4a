"""The personal bucket `default` (spec/07): an alias of the caller's own bucket, created with
its collections on first use, for every method, in batches too."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from django.test import RequestFactory

from kinto_django import conf
from kinto_django.core.api.endpoints.batch import written_lists
from kinto_django.core.signals import resource_changed
from tests.conftest import Api, basic


def expected_bucket_id(user_id: str, secret: str | None = None) -> str:
    """The personal bucket id: keyed with `secret` when one is configured, else with a key
    derived from the server's `userid_hmac_secret`."""
    if secret is None:
        server = conf.kinto_settings.userid_hmac_secret.encode()
        key = hmac.new(server, b"kinto personal bucket ids", hashlib.sha256).digest()
    else:
        key = secret.encode()
    digest = hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


@pytest.fixture
def personal(api, kinto_settings) -> Api:
    kinto_settings(default_bucket_enabled=True)
    return api


def user_id(api: Api) -> str:
    return api.get("/").json["user"]["id"]


def bucket_of(api: Api) -> str:
    return api.get("/").json["user"]["bucket"]


@pytest.fixture
def events():
    received: list[dict[str, Any]] = []

    def receiver(sender, payload, impacted_objects, **kwargs):
        received.append({"payload": payload, "impacted_objects": impacted_objects})

    resource_changed.connect(receiver)
    yield received
    resource_changed.disconnect(receiver)


# --- switching it on ------------------------------------------------------------------------


def test_off_by_default_default_is_an_ordinary_bucket_id(api):
    assert "default_bucket" not in api.get("/").json["capabilities"]
    assert "bucket" not in api.get("/").json["user"]
    created = api.put("/buckets/default")
    assert created.status == 201
    assert created.data["id"] == "default"


@pytest.mark.parametrize(
    "values",
    [
        {"default_bucket_enabled": "true"},
        {"includes": "kinto.plugins.history kinto.plugins.default_bucket"},
    ],
)
def test_capability_and_user_bucket(api, kinto_settings, values):
    kinto_settings(**values)
    root = api.get("/").json
    assert set(root["capabilities"]["default_bucket"]) >= {"description", "url"}
    assert root["user"]["bucket"] == expected_bucket_id(root["user"]["id"])
    assert api.get("/buckets/default").data["id"] == root["user"]["bucket"]


def test_bucket_id_of_the_spec_example(anonymous, kinto_settings):
    kinto_settings(
        default_bucket_enabled=True,
        default_bucket_hmac_secret="my-salt",
        auth_policies="account basicauth",
        account_create_principals="system.Everyone",
    )
    assert anonymous.put("/accounts/bob", {"data": {"password": "pw"}}).status == 201
    bob = anonymous.as_user(("bob", "pw"))
    expected = "4b96f60e-65eb-3415-e86f-91aba9d95181"
    assert bob.get("/").json["user"] == {
        "id": "account:bob",
        "principals": bob.get("/").json["user"]["principals"],
        "bucket": expected,
    }
    shown = bob.get("/buckets/default")
    assert shown.status == 200
    assert shown.data["id"] == expected
    assert shown.json["permissions"]["write"] == ["account:bob"]


def test_ids_are_keyed_with_a_server_secret_by_default(personal, kinto_settings):
    """Nobody can compute another user's personal bucket id: unless configured, the key is
    derived from the server's own secret."""
    first = bucket_of(personal)
    assert first == expected_bucket_id(user_id(personal))
    assert first != expected_bucket_id(user_id(personal), "")
    kinto_settings(userid_hmac_secret="another-secret")
    assert bucket_of(personal) not in (first, expected_bucket_id(user_id(personal), ""))


def test_an_empty_secret_keeps_the_ids_of_earlier_installations(personal, kinto_settings):
    kinto_settings(default_bucket_hmac_secret="")
    assert bucket_of(personal) == expected_bucket_id(user_id(personal), "")


@pytest.mark.parametrize("path", ["", "/collections/tasks", "/collections/tasks/records"])
def test_a_bucket_created_under_the_callers_id_by_somebody_else_is_refused(
    personal, kinto_settings, path
):
    """With a known key (here the reference's empty one), an attacker can compute a
    victim's personal bucket id and create it first, even with a collection shared with the
    victim: the victim is refused (403) rather than writing where the attacker reads, and
    nothing is created."""
    kinto_settings(default_bucket_hmac_secret="")
    victim_id = user_id(personal.as_user("victim"))
    squatted = f"/buckets/{expected_bucket_id(victim_id, '')}"
    attacker = personal.as_user("attacker")
    assert attacker.put(squatted).status == 201
    assert (
        attacker.put(
            f"{squatted}/collections/tasks", {"permissions": {"write": [victim_id]}}
        ).status
        == 201
    )
    victim = personal.as_user("victim")
    for method in ("get", "post", "put"):
        body = {"data": {"secret": "salary"}} if method != "get" else None
        kwargs = {} if body is None else {"body": body}
        if method == "put":
            target = (
                "/buckets/default/collections/tasks/records/r1" if path else "/buckets/default"
            )
        else:
            target = f"/buckets/default{path}"
        response = getattr(victim, method)(target, **kwargs)
        assert response.status == 403, (method, target, response)
    assert attacker.get(f"{squatted}/collections/tasks/records").data == []
    assert [c["id"] for c in attacker.get(f"{squatted}/collections").data] == ["tasks"]


# --- implicit creation ----------------------------------------------------------------------


def test_a_read_creates_the_bucket_owned_by_the_caller(personal):
    real = bucket_of(personal)
    shown = personal.get("/buckets/default")
    assert shown.status == 200
    assert shown.data["id"] == real
    assert shown.json["permissions"] == {"write": [user_id(personal)]}
    assert shown.headers["ETag"] == f'"{shown.data["last_modified"]}"'
    assert personal.get(f"/buckets/{real}").json == shown.json
    assert [b["id"] for b in personal.get("/buckets").data] == [real]


def test_a_path_through_a_collection_creates_bucket_and_collection(personal):
    real = bucket_of(personal)
    listed = personal.get("/buckets/default/collections/tasks/records")
    assert listed.status == 200
    assert listed.data == []
    collection = personal.get(f"/buckets/{real}/collections/tasks")
    assert collection.status == 200
    assert collection.json["permissions"] == {"write": [user_id(personal)]}


def test_implicit_creation_ignores_create_permissions(personal, kinto_settings):
    kinto_settings(bucket_create_principals="account:nobody")
    assert personal.put("/buckets/elsewhere").status == 403
    assert personal.get("/buckets/default/collections/tasks").status == 200
    # The PUT of the bucket itself is an ordinary creation, not preceded by an implicit one.
    assert personal.as_user("bob").put("/buckets/default").status == 403


def test_implicit_creation_grants_write_without_explicit_permissions(personal, kinto_settings):
    kinto_settings(explicit_permissions=False)
    shown = personal.get("/buckets/default/collections/tasks")
    assert shown.status == 200
    assert shown.json["permissions"] == {"write": [user_id(personal)]}
    assert personal.post("/buckets/default/collections/tasks/records", {"data": {}}).status == 201


def test_put_of_the_bucket_itself_creates_it(personal):
    created = personal.put(
        "/buckets/default",
        {"data": {"id": "default", "theme": "dark"}},
        headers={"If-None-Match": "*"},
    )
    assert created.status == 201
    assert created.data["id"] == bucket_of(personal)
    assert created.data["theme"] == "dark"
    assert personal.put("/buckets/default", headers={"If-None-Match": "*"}).status == 412


def test_put_of_the_collection_itself_creates_it(personal):
    created = personal.put(
        "/buckets/default/collections/tasks",
        {"data": {"color": "red"}},
        headers={"If-None-Match": "*"},
    )
    assert created.status == 201
    assert created.data == {
        "id": "tasks",
        "color": "red",
        "last_modified": created.data["last_modified"],
    }
    replaced = personal.put("/buckets/default/collections/tasks", headers={"If-None-Match": "*"})
    assert replaced.status == 412


def test_a_deleted_bucket_is_created_again(personal):
    first = personal.get("/buckets/default/collections/tasks").data
    deleted = personal.delete("/buckets/default")
    assert deleted.status == 200
    assert deleted.data["deleted"] is True
    assert personal.get("/buckets/default/collections").data == []
    again = personal.get("/buckets/default/collections/tasks").data
    assert again["last_modified"] > first["last_modified"]


@pytest.mark.parametrize("cid", ["a.b", "x" * 65, "-dash"])
def test_an_invalid_collection_id_is_a_400(personal, cid):
    response = personal.get(f"/buckets/default/collections/{cid}/records")
    assert response.status == 400
    assert response.json["message"] == "path: Invalid collection id"
    assert response.json["details"] == [
        {"location": "path", "name": None, "description": "Invalid collection id"}
    ]


def test_a_failed_request_leaves_nothing_behind(personal):
    missing = personal.get("/buckets/default/collections/tasks/records/nope")
    assert missing.status == 404
    assert personal.as_user("alice").get("/buckets").data == []


def test_unknown_paths_below_the_alias_are_404(personal):
    response = personal.get("/buckets/default/nothing")
    assert response.status == 404
    assert response.json["errno"] == 111


# --- every resource and method through the alias -----------------------------------------

OBJECT_PATHS = {
    "bucket": "/buckets/default",
    "collection": "/buckets/default/collections/tasks",
    "group": "/buckets/default/groups/staff",
    "record": "/buckets/default/collections/tasks/records/r1",
}


@pytest.mark.parametrize("resource", OBJECT_PATHS)
def test_every_method_reaches_the_real_object(personal, resource):
    path = OBJECT_PATHS[resource]
    real_path = path.replace("default", bucket_of(personal), 1)
    assert personal.put(path, {"data": {"n": 1}}).status in (200, 201)
    assert personal.get(real_path).data["n"] == 1
    patched = personal.patch(path, {"data": {"n": 2}})
    assert patched.status == 200
    assert personal.get(real_path).data["n"] == 2
    merged = personal.patch(
        path, {"data": {"n": None}}, content_type="application/merge-patch+json"
    )
    assert "n" not in merged.data
    assert personal.head(path).status == 200
    deleted = personal.delete(path)
    assert deleted.status == 200
    assert deleted.data["deleted"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/buckets/default/collections",
        "/buckets/default/groups",
        "/buckets/default/collections/tasks/records",
    ],
)
def test_lists_through_the_alias(personal, path):
    created = personal.post(path, {"data": {"id": "one"}})
    assert created.status == 201
    real_path = path.replace("default", bucket_of(personal), 1)
    assert [o["id"] for o in personal.get(path).data] == ["one"]
    assert personal.get(real_path).data == personal.get(path).data
    assert personal.head(path).headers["Total-Objects"] == "1"
    assert [o["id"] for o in personal.delete(path).data] == ["one"]


def test_data_id_default_in_a_body_is_the_real_bucket_id(personal):
    real = bucket_of(personal)
    created = personal.post(
        "/buckets/default/collections/tasks/records", {"data": {"id": "default"}}
    )
    assert created.status == 201
    assert created.data["id"] == real
    bucket = personal.put("/buckets/default", {"data": {"id": "default", "x": 1}})
    assert bucket.status == 200
    assert bucket.data == {"id": real, "x": 1, "last_modified": bucket.data["last_modified"]}


def test_next_page_carries_the_real_id(personal):
    for n in range(3):
        personal.post("/buckets/default/collections/tasks/records", {"data": {"n": n}})
    real = bucket_of(personal)
    first = personal.get("/buckets/default/collections/tasks/records?_limit=2&_sort=n")
    assert [r["n"] for r in first.data] == [0, 1]
    next_page = first.headers["Next-Page"]
    assert next_page.startswith(f"http://testserver/v1/buckets/{real}/collections/tasks/records?")
    second = personal.get(next_page.removeprefix("http://testserver"))
    assert [r["n"] for r in second.data] == [2]


def test_others_reach_the_bucket_by_its_real_id_once_granted(personal):
    real = bucket_of(personal)
    bob = personal.as_user("bob")
    personal.get("/buckets/default")
    assert bob.get(f"/buckets/{real}").status == 403
    bob_id = user_id(bob)
    granted = personal.patch("/buckets/default", {"permissions": {"read": [bob_id]}})
    assert granted.json["permissions"]["read"] == [bob_id]
    assert bob.get(f"/buckets/{real}").data["id"] == real
    assert bob.get("/buckets/default").data["id"] == bucket_of(bob) != real


def test_the_trailing_slash_redirect_keeps_the_alias(personal):
    response = personal.get("/buckets/default/collections/tasks/")
    assert response.status == 307
    assert response.headers["Location"] == "http://testserver/v1/buckets/default/collections/tasks"


# --- who may use it -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "POST"])
@pytest.mark.parametrize(
    "path", ["/buckets/default", "/buckets/default/collections/tasks/records"]
)
def test_anonymous_callers_get_a_401(personal, method, path):
    response = personal.request(method, path, {"data": {}}, user=None)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Realm"'
    if method != "HEAD":
        assert response.json["errno"] == 104
    assert personal.get("/buckets").data == []


def test_pre_flight_works_anonymously_as_on_the_real_route(personal):
    headers = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    alias = personal.request(
        "OPTIONS", "/buckets/default/collections/tasks/records", user=None, headers=headers
    )
    real = personal.request(
        "OPTIONS", "/buckets/b/collections/tasks/records", user=None, headers=headers
    )
    assert alias.status == 200
    for name in ("Access-Control-Allow-Methods", "Access-Control-Allow-Headers"):
        assert alias.headers[name] == real.headers[name]
    assert alias.headers["Access-Control-Allow-Methods"] == "HEAD,GET,POST,DELETE,OPTIONS"


def test_exposed_headers_are_those_of_the_real_route(personal):
    response = personal.get(
        "/buckets/default/collections/tasks/records", headers={"Origin": "http://app.example"}
    )
    exposed = response.headers["Access-Control-Expose-Headers"].split(", ")
    assert {"Next-Page", "ETag", "Last-Modified"} <= set(exposed)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_read_only_server_refuses_even_reads(personal, kinto_settings, method):
    kinto_settings(readonly=True)
    response = personal.request(method, "/buckets/default/collections/tasks")
    assert response.status == 405
    assert response.json["errno"] == 115
    assert personal.request(method, "/buckets/default", user=None).status == 401


# --- events ---------------------------------------------------------------------------------


def test_implicit_creation_sends_create_events(
    personal, events, django_capture_on_commit_callbacks
):
    real = bucket_of(personal)
    with django_capture_on_commit_callbacks(execute=True):
        assert personal.get("/buckets/default/collections/tasks/records").status == 200
    by_resource = {e["payload"]["resource_name"]: e for e in events}
    assert set(by_resource) == {"bucket", "collection"}
    bucket = by_resource["bucket"]
    assert bucket["payload"]["action"] == "create"
    assert bucket["payload"]["uri"] == f"/buckets/{real}"
    assert bucket["payload"]["user_id"] == user_id(personal)
    assert bucket["impacted_objects"][0]["new"]["id"] == real
    collection = by_resource["collection"]
    assert collection["payload"]["uri"] == f"/buckets/{real}/collections/tasks"
    assert collection["payload"]["bucket_id"] == real
    events.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert personal.get("/buckets/default/collections/tasks/records").status == 200
    assert events == []


def test_events_of_writes_carry_the_real_id(personal, events, django_capture_on_commit_callbacks):
    personal.get("/buckets/default/collections/tasks")
    real = bucket_of(personal)
    with django_capture_on_commit_callbacks(execute=True):
        personal.put("/buckets/default/collections/tasks/records/r1", {"data": {}})
    assert [e["payload"]["uri"] for e in events] == [
        f"/buckets/{real}/collections/tasks/records/r1"
    ]
    assert events[0]["payload"]["bucket_id"] == real


def test_a_failed_request_sends_no_creation_event(
    personal, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert personal.get("/buckets/default/collections/tasks/records/nope").status == 404
    assert events == []


# --- batch ----------------------------------------------------------------------------------


def test_batch_creates_once_and_answers_with_real_ids(
    personal, events, django_capture_on_commit_callbacks
):
    records = "/buckets/default/collections/tasks/records"
    with django_capture_on_commit_callbacks(execute=True):
        response = personal.post(
            "/batch",
            {
                "requests": [
                    {"method": "POST", "path": records, "body": {"data": {"n": 1}}},
                    {"method": "POST", "path": records, "body": {"data": {"id": "default"}}},
                    {"method": "GET", "path": "/buckets/default/collections"},
                    {"method": "GET", "path": "/buckets/default/collections/a.b"},
                ]
            },
        )
    real = bucket_of(personal)
    responses = response.json["responses"]
    assert [r["status"] for r in responses] == [201, 201, 200, 400]
    assert responses[0]["path"] == f"/v1{records}"
    assert responses[1]["body"]["data"]["id"] == real
    assert [c["id"] for c in responses[2]["body"]["data"]] == ["tasks"]
    by_resource = {e["payload"]["resource_name"]: e for e in events}
    assert len(by_resource["bucket"]["impacted_objects"]) == 1
    assert len(by_resource["collection"]["impacted_objects"]) == 1
    assert len(by_resource["record"]["impacted_objects"]) == 2
    assert by_resource["record"]["payload"]["uri"] == f"/buckets/{real}/collections/tasks/records"


def test_batch_recreates_after_a_deletion_and_drops_failed_creations(personal):
    response = personal.post(
        "/batch",
        {
            "requests": [
                {"method": "GET", "path": "/buckets/default/collections/x/records/nope"},
                {"method": "DELETE", "path": "/buckets/default"},
                {"method": "GET", "path": "/buckets/default/collections/y"},
            ]
        },
    )
    assert [r["status"] for r in response.json["responses"]] == [404, 200, 200]
    collections = personal.get("/buckets/default/collections").data
    assert [c["id"] for c in collections] == ["y"]


def test_batch_locks_the_same_lists_through_the_alias_or_the_real_id(personal):
    real = bucket_of(personal)
    alias = "/buckets/default/collections/tasks/records"
    subrequests = [
        {"method": "POST", "path": alias},
        {"method": "PUT", "path": "/buckets/default/groups/g"},
        {"method": "PATCH", "path": "/buckets/default"},
        {"method": "GET", "path": "/buckets/default/collections"},
    ]
    request = RequestFactory().post("/v1/batch", HTTP_AUTHORIZATION=basic("alice"))
    assert written_lists(subrequests, "/v1", request) == [
        f"/v1/buckets/{real}/collections/tasks/records",
        f"/v1/buckets/{real}/groups",
        "/v1/buckets",
    ]
    anonymous = RequestFactory().post("/v1/batch")
    assert written_lists(subrequests, "/v1", anonymous) == []


@pytest.mark.parametrize(
    ("values", "warned"),
    [
        ({"default_bucket_enabled": True}, False),
        ({"default_bucket_enabled": True, "default_bucket_hmac_secret": "k"}, False),
        ({"default_bucket_enabled": True, "default_bucket_hmac_secret": ""}, True),
        ({"default_bucket_hmac_secret": ""}, False),
    ],
)
def test_an_empty_key_is_warned_about(kinto_settings, values, warned):
    from django.core.checks import run_checks

    kinto_settings(**values)
    assert any(m.id == "kinto_buckets.W001" for m in run_checks()) is warned
