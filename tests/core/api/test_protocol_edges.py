"""Edges of the protocol found by a hostile review, each checked against the reference server
request by request (README, Protocol notes, for where this server differs on purpose)."""

from __future__ import annotations

import pytest

from kinto_django import jsonutil
from tests import factories
from tests.asgi import asgi_request


def bucket_missing(object_id: str) -> dict:
    return {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "details": {"id": object_id, "resource_name": "bucket"},
    }


WRITES_UNDER_AN_INVALID_BUCKET = [
    ("POST", "/buckets/be*/collections"),
    ("POST", "/buckets/be*/groups"),
    ("PUT", "/buckets/be*/collections/c"),
    ("PATCH", "/buckets/be*/collections/c"),
    ("DELETE", "/buckets/be*/collections/c"),
    ("PUT", "/buckets/be*/groups/g"),
    ("POST", "/buckets/be*/collections/c/records"),
    ("PUT", "/buckets/%2A/collections/c/records/r1"),
    ("PUT", "/buckets/be*/collections/c*/records/r1"),
]


@pytest.mark.parametrize(("method", "path"), WRITES_UNDER_AN_INVALID_BUCKET)
@pytest.mark.parametrize("user", ["alice", None])
def test_a_write_under_an_invalid_parent_id_is_404_before_permissions(api, method, path, user):
    factories.bucket(api, "beta")  # `be*` read as a pattern would match it
    response = api.request(method, path, {"data": {"title": "x"}}, user=user)
    assert response.status == 404, response
    assert response.json == bucket_missing("be*" if "be*" in path else "*")


def test_a_record_write_under_an_invalid_collection_id_names_the_collection(api):
    factories.bucket(api)
    response = api.put("/buckets/shop/collections/c*/records/r1", {"data": {}}, user=None)
    assert response.status == 404
    assert response.json["details"] == {"id": "c*", "resource_name": "collection"}


@pytest.mark.parametrize(
    "path",
    [
        "/buckets/be*/collections",
        "/buckets/%2A/collections",
        "/buckets/be*/groups",
        "/buckets/be*/collections/c",
        "/buckets/be*/collections/c/records",
    ],
)
def test_a_read_under_an_invalid_parent_id_grants_nothing(api, path):
    """An id is never a pattern: the caller's own `beta` bucket changes nothing."""
    factories.bucket(api, "beta")
    assert api.get(path).status == 403
    assert api.get(path, user=None).status == 401


def test_the_history_of_an_invalid_bucket_id_grants_nothing(api, kinto_settings):
    kinto_settings(history_enabled=True)
    factories.bucket(api, "beta")
    for path in ("/buckets/*/history", "/buckets/%2A/history", "/buckets/be*/history"):
        assert api.get(path).status == 403
        assert api.get(path, user=None).status == 401


@pytest.mark.parametrize("path", ["/9l2j7%0A21m2n", "/buckets%0D%0Afoo", "/a%0Db"])
def test_a_line_break_in_an_unprefixed_path_is_never_redirected(api, path):
    response = api.client.get(path)
    assert response.status_code == 404
    assert "Location" not in response.headers
    body = jsonutil.loads(response.content)
    assert body["errno"] == 116
    assert body["message"] == "The requested API version is not available on this server."


def test_a_line_break_after_the_version_prefix_is_an_unknown_url(api):
    response = api.client.get("/v1%0A")
    assert response.status_code == 404
    assert jsonutil.loads(response.content)["errno"] == 111


def test_other_control_characters_are_redirected_percent_encoded(api):
    response = api.client.get("/a%09b")
    assert response.status_code == 307
    assert response.headers["Location"] == "http://testserver/v1/a%09b"


def asgi_get(path: bytes, query: bytes = b"") -> tuple[int, dict, bytes]:
    """A GET through the project's ASGI application, as uvicorn hands it over."""
    from kinto_project.asgi import application

    return asgi_request(application, "GET", path, query=query)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", [b"/%82%AC", b"/v1/%82%AC", b"/v1/buckets/%82%AC"])
def test_a_path_that_is_not_utf8_is_a_400(path):
    status, headers, body = asgi_get(path)
    assert status == 400
    assert b"location" not in headers
    assert jsonutil.loads(body) == {
        "code": 400,
        "errno": 107,
        "error": "Bad Request",
        "message": "Invalid URL path.",
    }


@pytest.mark.django_db(transaction=True)
def test_a_percent_sign_in_a_path_is_not_taken_for_bad_encoding():
    status, _, _ = asgi_get(b"/v1/buckets/%2582%25AC")
    assert status == 401  # an invalid id, refused after authentication as any other


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path", "query"), [(b"/v1/", b"x=%ff"), (b"/v1/buckets/b", b"%82=1")])
def test_a_query_string_that_is_not_utf8_is_a_400_before_authentication(path, query):
    status, _, body = asgi_get(path, query)
    assert status == 400
    assert "incorrect encoding in the querystring" in jsonutil.loads(body)["message"]


def test_a_group_created_without_data_has_no_members_until_data_is_written(api):
    factories.bucket(api)
    created = api.put("/buckets/shop/groups/g1", {"permissions": {"read": ["system.Everyone"]}})
    assert created.status == 201
    assert "members" not in created.data
    posted = api.post("/buckets/shop/groups", {"permissions": {"read": []}})
    assert posted.status == 201 and "members" not in posted.data
    assert "members" not in api.get("/buckets/shop/groups/g1").data
    assert api.put("/buckets/shop/groups/g2", {"data": {}}).data["members"] == []
    patched = api.patch("/buckets/shop/groups/g1", {"data": {"x": 1}})
    assert patched.data["members"] == [] and patched.data["x"] == 1


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("testserver:80", "http", "http://testserver/v1/"),
        ("testserver:443", "https", "https://testserver/v1/"),
        ("testserver:8080", "http", "http://testserver:8080/v1/"),
        ("[::1]:80", "http", "http://[::1]/v1/"),
    ],
)
def test_next_page_leaves_the_default_port_out(api, kinto_settings, host, scheme, expected):
    kinto_settings(experimental_permissions_endpoint=True, allowed_hosts=["*"])
    for bucket_id in ("a", "b"):
        factories.bucket(api, bucket_id)
    kinto_settings(http_scheme=scheme)
    headers = {"Host": host}
    for path in ("/buckets?_limit=1", "/permissions?_limit=1"):
        response = api.get(path, headers=headers)
        assert response.status == 200, response
        assert response.headers["Next-Page"].startswith(expected + path[1:].split("?")[0])


@pytest.mark.parametrize("path", ["/v1/", "/v1/unknown", "/v1/buckets/shop"])
def test_the_request_id_is_exposed_on_every_api_response(api, path):
    response = api.client.get(path, headers={"Origin": "https://app.example"})
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert "X-Request-Id" in [name.strip() for name in exposed.split(",")]
    assert response.headers["X-Request-Id"]


def test_a_lists_etag_is_never_older_than_its_page(api, monkeypatch):
    """The list's timestamp is read before its page (for `If-None-Match`); a change committed
    between the two reads is on the page, so the `ETag` comes from the page's own statement:
    a client polling with `_since=<ETag>` never gets a change twice."""
    from kinto_django.core import actions
    from kinto_django.core.api.viewsets.listing import ListMixin
    from kinto_django.core.context import ActionContext
    from kinto_django.permissions.identity import Identity
    from kinto_django.records.models import Record

    factories.collection(api)
    factories.record(api, {"n": 0})
    checked = ListMixin.check_list_preconditions

    def then_a_write_commits(self, list_timestamp, is_read):
        checked(self, list_timestamp, is_read)
        if self.resource_name == "record":
            parent = self.parents().parent
            ctx = ActionContext(Identity("system.operator", ("system.operator",)))
            actions.create_object(ctx, Record, parent, "late", {"n": 1})

    monkeypatch.setattr(ListMixin, "check_list_preconditions", then_a_write_commits)
    response = api.get("/buckets/shop/collections/orders/records")
    newest = max(record["last_modified"] for record in response.data)
    assert "late" in [record["id"] for record in response.data]
    assert int(response.headers["ETag"].strip('"')) == newest
