"""Wire conventions shared by every endpoint (spec/00, spec/06): redirects, content
negotiation, error envelope, CORS, Backoff / Retry-After / end of service, read-only mode,
disabled methods, anonymous cache headers, security headers and the body size limit."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from django.db import IntegrityError, OperationalError

from kinto_django.core.api.endpoints import utility
from tests import factories
from tests.core.api.resources.resource_kinds import KINDS, kind_fixture

ALWAYS = {"Backoff", "Retry-After", "Alert", "Content-Length", "Content-Type", "X-Request-Id"}
OBJECT = ALWAYS | {"Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma"}
LIST = OBJECT | {"Next-Page"}
LIST_HEAD = LIST | {"Total-Objects", "Total-Records"}
SECURITY = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; ",
    "X-Content-Type-Options": "nosniff",
}
ORIGIN = "https://app.example.com"


@pytest.fixture(params=list(KINDS))
def kind(request: Any, api: Any) -> Any:
    """Each resource type in turn, its parent created (see tests/core/api/resources/resource_kinds.py)."""
    return kind_fixture(request, api)


def header_set(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def create(api: Any, kind: Any, object_id: str = "obj1", **body: Any) -> Any:
    response = api.put(kind.path(object_id), body or None)
    assert response.status == 201, response
    return response


def seconds_from_now(http_date: str) -> float:
    return parsedate_to_datetime(http_date).timestamp() - time.time()


# --- URL prefix and redirects --------------------------------------------------------------


def test_path_without_version_redirects_to_v1(client, db):
    response = client.get("/buckets/shop?_limit=2&x=%C3%A9")
    assert response.status_code == 307
    assert response["Location"] == "http://testserver/v1/buckets/shop?_limit=2&x=%C3%A9"
    assert "Cache-Control" not in response
    assert response["Content-Type"] == "text/plain; charset=UTF-8"
    assert b"/v1/buckets/shop" in response.content


def test_version_prefix_redirect_ttl(client, db, kinto_settings):
    kinto_settings(version_prefix_redirect_ttl_seconds=60)
    response = client.get("/__heartbeat__")
    assert response["Location"] == "http://testserver/v1/__heartbeat__"
    assert response["Cache-Control"] == "max-age=60"
    assert 50 < seconds_from_now(response["Expires"]) < 70


def test_version_prefix_redirect_can_be_disabled(client, db, kinto_settings):
    kinto_settings(version_prefix_redirect_enabled=False)
    response = client.get("/buckets")
    assert response.status_code == 404
    assert response.json()["errno"] == 111


def test_redirect_honours_http_host_and_scheme(client, db, kinto_settings):
    kinto_settings(http_host="api.example.com", http_scheme="https")
    response = client.get("/buckets")
    assert response["Location"] == "https://api.example.com/v1/buckets"


@pytest.mark.parametrize("path", ["/v2/buckets", "/v2", "/v0/", "/v12/buckets/shop"])
def test_other_versions_are_404_116(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "errno": 116,
        "error": "Not Found",
        "message": "The requested API version is not available on this server.",
    }


def test_v1_redirects_to_v1_slash(client, db):
    response = client.get("/v1")
    assert response.status_code == 307
    assert response["Location"] == "http://testserver/v1/"


@pytest.mark.parametrize(
    "path", ["/buckets/", "/buckets/shop/", "/buckets/shop/collections/orders/records/"]
)
def test_trailing_slash_redirect(anonymous, path):
    response = anonymous.get(path + "?_limit=1")
    assert response.status == 307
    assert response.headers["Location"] == f"http://testserver/v1{path.rstrip('/')}?_limit=1"
    assert response.headers["Cache-Control"] == "max-age=3600"
    assert 3590 < seconds_from_now(response.headers["Expires"]) < 3610
    for name, value in SECURITY.items():
        assert response.headers[name] == value


@pytest.mark.parametrize(
    ("ttl", "cache_control"), [(-1, None), (0, "no-cache"), (10, "max-age=10")]
)
def test_trailing_slash_redirect_ttl(anonymous, kinto_settings, ttl, cache_control):
    kinto_settings(trailing_slash_redirect_ttl_seconds=ttl)
    response = anonymous.get("/buckets/")
    assert response.status == 307
    assert response.headers.get("Cache-Control") == cache_control


def test_trailing_slash_redirect_can_be_disabled(anonymous, kinto_settings):
    kinto_settings(trailing_slash_redirect_enabled="false")
    response = anonymous.get("/buckets/")
    assert response.status == 404
    assert response.json["errno"] == 111


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/nowhere", "/buckets/shop/nowhere", "/v1/__nothing__"])
def test_unknown_url_is_404_111(api, method, path):
    response = api.request(method, path, {})
    assert response.status == 404
    assert response.json == {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "message": "The resource you are looking for could not be found.",
    }


# --- methods and content negotiation -------------------------------------------------------


def test_unsupported_method_on_object_is_405_with_allow(api, kind):
    create(api, kind)
    response = api.post(kind.path("obj1"), {})
    assert response.status == 405
    assert response.headers["Allow"] == "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
    assert response.json == {
        "code": 405,
        "errno": 115,
        "error": "Method Not Allowed",
        "message": "Method not allowed on this endpoint.",
    }


@pytest.mark.parametrize("method", ["PUT", "PATCH", "TRACE"])
def test_unsupported_method_on_list_is_405_with_allow(api, kind, method):
    response = api.request(method, kind.plural, {})
    assert response.status == 405
    assert response.headers["Allow"] == "HEAD, GET, POST, DELETE, OPTIONS"
    assert response.json["errno"] == 115


def test_wrong_content_type_is_415_before_authentication(anonymous, kind):
    for method in ("PUT", "PATCH"):
        response = anonymous.request(method, kind.path("obj1"), {}, content_type="text/plain")
        assert response.status == 415, method
    response = anonymous.put(kind.path("obj1"), {}, content_type="text/plain")
    assert response.json == {
        "code": 415,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "Content-Type header should be one of ['application/json']",
        "details": [
            {
                "location": "header",
                "name": "Content-Type",
                "description": "Content-Type header should be one of ['application/json']",
            }
        ],
    }
    patch = anonymous.patch(kind.path("obj1"), {}, content_type="text/plain")
    assert patch.json["message"] == (
        "Content-Type header should be one of ['application/json', "
        "'application/merge-patch+json', 'application/json-patch+json']"
    )


def test_accept_without_json_is_406_before_authentication(anonymous, kind):
    response = anonymous.get(kind.path("obj1"), headers={"Accept": "text/html"})
    assert response.status == 406
    assert response.json == {
        "code": 406,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "Accept header should be one of ['application/json']",
        "details": [
            {
                "location": "header",
                "name": "Accept",
                "description": "Accept header should be one of ['application/json']",
            }
        ],
    }
    assert "ETag" in header_set(response.headers["Access-Control-Expose-Headers"])


def test_406_comes_before_415(anonymous, kind):
    response = anonymous.post(
        kind.plural, {}, content_type="text/plain", headers={"Accept": "text/html"}
    )
    assert response.status == 406


@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", "application/*", "text/html, application/json;q=0.5"]
)
def test_accept_with_json_is_served(api, kind, accept):
    create(api, kind)
    assert api.get(kind.path("obj1"), headers={"Accept": accept}).status == 200


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "application/json-patch+json",
    ],
)
def test_patch_content_types(api, kind, content_type):
    create(api, kind)
    body = [] if content_type.endswith("json-patch+json") else {"data": {"note": "x"}}
    response = api.patch(kind.path("obj1"), body, content_type=content_type)
    assert response.status == 200, response


def test_no_content_type_and_no_body_is_accepted(api, kind):
    response = api.put(kind.path("obj1"), content_type=None)
    assert response.status == 201, response


def test_invalid_json_is_400(api, kind):
    response = api.put(kind.path("obj1"), raw=b'{"data": ')
    assert response.status == 400
    body = response.json
    assert body["errno"] == 107
    assert body["error"] == "Invalid parameters"
    assert body["message"].startswith("Invalid JSON: ")
    assert body["details"] == [
        {"location": "body", "name": "", "description": body["message"]},
        {"location": "body", "name": "", "description": "Required"},
    ]


@pytest.mark.parametrize("raw", [b"12", b'"text"', b"true", b"null"])
def test_json_scalar_body_is_400(api, kind, raw):
    response = api.put(kind.path("obj1"), raw=raw)
    assert response.status == 400
    assert response.json["message"] == "Should be a JSON object or an array"
    assert response.json["details"][1] == {
        "location": "body",
        "name": "",
        "description": "Required",
    }


def test_responses_are_json_with_unescaped_slashes(api):
    factories.collection(api)
    record = factories.record(api, {"url": "https://x.example/a/b"})
    response = api.get(f"{factories.RECORDS}/{record['id']}")
    assert response.headers["Content-Type"] == "application/json"
    assert b"https://x.example/a/b" in response.content


def test_body_size_limit_is_413(api, kind, kinto_settings):
    kinto_settings(max_request_body_bytes=200)
    response = api.put(kind.path("obj1"), {"data": {"text": "x" * 300}})
    assert response.status == 413
    assert response.json["code"] == 413
    assert response.json["errno"] == 107
    assert api.get(kind.path("obj1")).status in (403, 404)
    assert api.put(kind.path("obj1"), {"data": {"text": "x" * 50}}).status == 201


# --- error envelope ------------------------------------------------------------------------


def test_401_body_and_challenge(anonymous, kind):
    response = anonymous.put(kind.path("obj1"), {"data": {}})
    assert response.status in (401, 404)  # records/collections: a missing parent comes first
    if response.status == 401:
        assert response.json == {
            "code": 401,
            "errno": 104,
            "error": "Unauthorized",
            "message": "Please authenticate yourself to use this endpoint.",
        }
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Realm"'


def test_403_body(api, kind):
    create(api, kind)
    response = api.as_user("mallory").delete(kind.path("obj1"))
    assert response.status == 403
    assert response.json == {
        "code": 403,
        "errno": 121,
        "error": "Forbidden",
        "message": "This user cannot access this resource.",
    }


@pytest.fixture
def root_raises(monkeypatch):
    def install(exception: Exception) -> None:
        def get(self, request):
            raise exception

        monkeypatch.setattr(utility.RootView, "get", get)

    return install


def test_unexpected_error_is_500_with_info(anonymous, root_raises, kinto_settings):
    kinto_settings(error_info_link="https://example.org/issues/")
    root_raises(RuntimeError("bug"))
    response = anonymous.get("/")
    assert response.status == 500
    assert response.json == {
        "code": 500,
        "errno": 999,
        "error": "Internal Server Error",
        "message": "A programmatic error occurred, developers have been informed.",
        "info": "https://example.org/issues/",
    }
    assert "Retry-After" not in response.headers


def test_database_unavailable_is_503_with_retry_after(anonymous, root_raises, kinto_settings):
    root_raises(OperationalError("server closed the connection"))
    response = anonymous.get("/")
    assert response.status == 503
    assert response.json == {
        "code": 503,
        "errno": 201,
        "error": "Service Unavailable",
        "message": "Service temporary unavailable due to overloading or maintenance, "
        "please retry later.",
    }
    assert response.headers["Retry-After"] == "3"
    kinto_settings(retry_after_seconds=30)
    assert anonymous.get("/").headers["Retry-After"] == "30"


def test_integrity_error_is_409_with_retry_after(anonymous, root_raises):
    root_raises(IntegrityError("duplicate key"))
    response = anonymous.get("/")
    assert response.status == 409
    assert response.json == {
        "code": 409,
        "errno": 122,
        "error": "Conflict",
        "message": "Integrity constraint violated, please retry.",
    }
    assert response.headers["Retry-After"] == "3"


# --- CORS ----------------------------------------------------------------------------------


def test_allow_origin_only_when_origin_is_sent(anonymous):
    assert "Access-Control-Allow-Origin" not in anonymous.get("/").headers
    response = anonymous.get("/", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("https://admin.example.com", "https://admin.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://example.com", None),
        ("https://evil.com", None),
    ],
)
def test_allow_origin_with_shell_patterns(anonymous, kinto_settings, origin, allowed):
    kinto_settings(cors_origins="https://*.example.com, http://localhost:*")
    for path in ("/", "/nowhere", "/buckets/shop"):
        response = anonymous.get(path, headers={"Origin": origin})
        assert response.headers.get("Access-Control-Allow-Origin") == allowed, path


def test_exposed_headers_per_endpoint_kind(api, kind):
    create(api, kind)
    cases = [
        ("GET", kind.plural, LIST),
        ("HEAD", kind.plural, LIST_HEAD),
        ("GET", kind.path("obj1"), OBJECT),
        ("HEAD", kind.path("obj1"), OBJECT),
        ("PATCH", kind.path("obj1"), ALWAYS),
        ("DELETE", kind.path("obj1"), ALWAYS),
        ("POST", kind.plural, ALWAYS),
        ("DELETE", kind.plural, ALWAYS),
    ]
    for method, path, expected in cases:
        response = api.request(method, path, {"data": {}}, headers={"Origin": ORIGIN})
        assert response.status < 400, (method, path, response)
        exposed = header_set(response.headers["Access-Control-Expose-Headers"])
        assert exposed == expected, (method, path)
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_exposed_headers_on_errors(api, kind):
    stranger = api.as_user("mallory")
    create(api, kind)
    # Buckets have no parent that could grant a read: a missing one is a 403.
    missing_status = 403 if kind.name == "bucket" else 404
    cases = [
        (stranger.get(kind.path("obj1"), headers={"Origin": ORIGIN}), 403, OBJECT),
        (api.get(kind.path("missing"), headers={"Origin": ORIGIN}), missing_status, OBJECT),
        (api.as_user(None).get(kind.plural, headers={"Origin": ORIGIN}), 401, LIST),
        (api.get("/nowhere", headers={"Origin": ORIGIN}), 404, ALWAYS),
    ]
    for response, status, expected in cases:
        assert response.status == status, response
        assert header_set(response.headers["Access-Control-Expose-Headers"]) == expected
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_no_exposed_headers_on_405(api):
    response = api.put("/buckets", {}, headers={"Origin": ORIGIN})
    assert response.status == 405
    assert "Access-Control-Expose-Headers" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def preflight(client: Any, path: str, method: str | None = "GET", **headers: str) -> Any:
    all_headers = {"Origin": ORIGIN, **headers}
    if method:
        all_headers["Access-Control-Request-Method"] = method
    return client.request("OPTIONS", path, headers=all_headers, content_type=None)


def test_preflight_on_resources(anonymous, kind):
    cases = [
        (kind.plural, "POST", "HEAD,GET,POST,DELETE,OPTIONS", LIST_HEAD),
        (kind.path("x"), "PUT", "GET,HEAD,PUT,PATCH,DELETE,OPTIONS", OBJECT),
    ]
    for path, method, methods, exposed in cases:
        response = preflight(
            anonymous, path, method, **{"Access-Control-Request-Headers": "Authorization, X-Foo"}
        )
        assert response.status == 200, response
        assert response.content == b"null"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Allow-Methods"] == methods
        allowed = header_set(response.headers["Access-Control-Allow-Headers"])
        assert allowed == exposed | {"Authorization", "X-Foo"}
        assert response.headers["Access-Control-Max-Age"] == "3600"
        assert "Access-Control-Expose-Headers" not in response.headers


@pytest.mark.parametrize(
    ("path", "method", "methods"),
    [
        ("/", "GET", "GET,HEAD,OPTIONS"),
        ("/batch", "POST", "POST,OPTIONS"),
        ("/v1/__heartbeat__", "GET", "GET,HEAD,OPTIONS"),
    ],
)
def test_preflight_on_utility_endpoints(anonymous, path, method, methods):
    response = preflight(anonymous, path, method)
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Methods"] == methods
    assert header_set(response.headers["Access-Control-Allow-Headers"]) == ALWAYS


def test_preflight_needs_origin_and_method(anonymous):
    response = anonymous.request("OPTIONS", "/buckets", content_type=None)
    assert response.status == 400
    assert response.json["details"] == [
        {
            "location": "header",
            "name": "Access-Control-Request-Method",
            "description": "this header is mandatory",
        },
        {"location": "header", "name": "Origin", "description": "this header is mandatory"},
    ]
    assert response.json["message"] == (
        "Access-Control-Request-Method in header: this header is mandatory"
    )
    response = preflight(anonymous, "/buckets", None)
    assert response.status == 400
    assert [d["name"] for d in response.json["details"]] == ["Access-Control-Request-Method"]


@pytest.mark.parametrize("method", ["PUT", "get", "OPTIONS"])
def test_preflight_refuses_methods_the_route_does_not_have(anonymous, method):
    response = preflight(anonymous, "/buckets", method)
    assert response.status == 400
    assert (
        response.json["message"] == "Access-Control-Request-Method in header: Method not allowed"
    )


def test_preflight_refuses_origins_not_allowed(anonymous, kinto_settings):
    kinto_settings(cors_origins="https://*.example.com")
    assert preflight(anonymous, "/buckets").status == 200
    response = anonymous.request(
        "OPTIONS",
        "/buckets",
        headers={"Origin": "https://evil.com", "Access-Control-Request-Method": "GET"},
        content_type=None,
    )
    assert response.status == 400
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_max_age_setting(anonymous, kinto_settings):
    kinto_settings(cors_max_age_seconds="60")
    assert preflight(anonymous, "/buckets").headers["Access-Control-Max-Age"] == "60"
    kinto_settings(cors_max_age_seconds="")
    assert "Access-Control-Max-Age" not in preflight(anonymous, "/buckets").headers


def test_preflight_on_unknown_url_and_trailing_slash(anonymous):
    assert preflight(anonymous, "/nowhere").status == 404
    response = preflight(anonymous, "/buckets/")
    assert response.status == 307
    assert response.headers["Location"] == "http://testserver/v1/buckets"


def test_preflight_needs_no_authentication_on_private_objects(api):
    factories.collection(api)
    response = preflight(api.as_user(None), factories.RECORDS, "POST")
    assert response.status == 200


def test_preflight_in_read_only_mode(anonymous, kinto_settings):
    kinto_settings(readonly=True)
    assert preflight(anonymous, "/buckets", "POST").status == 400
    response = preflight(anonymous, "/buckets", "GET")
    assert response.headers["Access-Control-Allow-Methods"] == "HEAD,GET,OPTIONS"


# --- Backoff, end of service ---------------------------------------------------------------


def test_backoff_on_every_response(api, kinto_settings):
    factories.bucket(api)
    etag = api.get("/buckets/shop").headers["ETag"]
    kinto_settings(backoff=10)
    responses = [
        api.get("/"),
        api.get("/nowhere"),
        api.as_user(None).get("/buckets/shop"),
        api.get("/buckets/shop", headers={"If-None-Match": etag}),
        api.put("/buckets", {}),
        api.post("/batch", {"requests": [{"path": "/"}]}),
    ]
    assert [r.status for r in responses] == [200, 404, 401, 304, 405, 200]
    assert all(r.headers["Backoff"] == "10" for r in responses)
    assert "Backoff" not in responses[-1].json["responses"][0]["headers"]


@pytest.mark.parametrize(("percentage", "expected"), [(0, 0), (100, 20)])
def test_backoff_percentage(anonymous, kinto_settings, percentage, expected):
    kinto_settings(backoff=5, backoff_percentage=percentage)
    count = sum("Backoff" in anonymous.get("/").headers for _ in range(20))
    assert count == expected


def test_no_backoff_by_default(anonymous):
    assert "Backoff" not in anonymous.get("/").headers


def test_soft_end_of_service_alert(api, kinto_settings):
    kinto_settings(eos="2999-12-31", eos_message="Moving", eos_url="https://new.example.com")
    for response in (api.get("/"), api.get("/buckets"), api.get("/nowhere")):
        assert response.status in (200, 404)
        assert json.loads(response.headers["Alert"]) == {
            "code": "soft-eol",
            "message": "Moving",
            "url": "https://new.example.com",
        }


def test_hard_end_of_service_is_410(api, kinto_settings):
    kinto_settings(eos="2000-01-01", project_docs="https://docs.example.com/")
    for response in (api.get("/"), api.put("/buckets/shop"), api.get("/nowhere")):
        assert response.status == 410
        assert response.json == {
            "code": 410,
            "errno": 202,
            "error": "Gone",
            "message": "The service you are trying to connect no longer exists at this location.",
        }
        alert = json.loads(response.headers["Alert"])
        assert alert == {"code": "hard-eol", "message": None, "url": "https://docs.example.com/"}
    assert api.get("/buckets/shop").status == 410


# --- read-only mode and disabled methods ---------------------------------------------------


def test_read_only_mode(api, kind, kinto_settings):
    create(api, kind)
    kinto_settings(readonly=True)
    writes = [
        ("POST", kind.plural),
        ("DELETE", kind.plural),
        ("PUT", kind.path("obj1")),
        ("PATCH", kind.path("obj1")),
        ("DELETE", kind.path("obj1")),
    ]
    for method, path in writes:
        response = api.request(method, path, {"data": {}})
        assert response.status == 405, (method, path)
        assert response.json["errno"] == 115
    assert api.put(kind.path("obj1"), {}).headers["Allow"] == "GET, HEAD, OPTIONS"
    assert api.get(kind.path("obj1")).status == 200
    assert api.get(kind.plural).status == 200
    assert api.head(kind.plural).status == 200
    assert api.get("/").json["settings"]["readonly"] is True


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [("plural", "post"), ("plural", "delete"), ("object", "put"), ("object", "delete")],
)
def test_disabled_methods_are_405(api, kind, kinto_settings, endpoint, method):
    create(api, kind)
    kinto_settings(**{f"{endpoint}_{kind.name}_{method}_enabled": "false"})
    path = kind.plural if endpoint == "plural" else kind.path("obj1")
    response = api.request(method.upper(), path, {"data": {}})
    assert response.status == 405
    assert response.json["errno"] == 115
    assert method.upper() not in response.headers["Allow"]
    # Other types are not affected.
    other = next(k for k in KINDS.values() if k.name != kind.name)
    assert (
        f"{endpoint}_{other.name}_{method}_enabled" != f"{endpoint}_{kind.name}_{method}_enabled"
    )
    assert api.get(kind.path("obj1")).status == 200


def test_disabled_get(api, kinto_settings):
    factories.bucket(api)
    kinto_settings(object_bucket_get_enabled=False)
    assert api.get("/buckets/shop").status == 405
    assert api.get("/buckets").status == 200
    # HEAD has its own switch, as in the reference.
    assert api.head("/buckets/shop").status == 200
    kinto_settings(object_bucket_head_enabled=False)
    assert api.head("/buckets/shop").status == 405


def test_object_head_has_the_get_content_length(api):
    factories.bucket(api, data={"title": "Shop"})
    body = api.get("/buckets/shop").content
    response = api.head("/buckets/shop")
    assert response.content == b""
    assert response.headers["Content-Length"] == str(len(body))


# --- anonymous resource cache headers ------------------------------------------------------


@pytest.fixture
def public_tree(api):
    """Bucket `shop` readable by everyone, with a collection, a group and a record."""
    api.put("/buckets/shop", {"permissions": {"read": ["system.Everyone"]}})
    factories.collection(api, create_bucket=False)
    factories.group(api)
    factories.record(api, {"a": 1}, record_id="r1")
    return api.as_user(None)


PUBLIC = {
    "bucket": "/buckets/shop",
    "collection": "/buckets/shop/collections/orders",
    "group": "/buckets/shop/groups/staff",
    "record": "/buckets/shop/collections/orders/records/r1",
}
NO_CACHE = "no-cache, no-store"


@pytest.mark.parametrize("resource", list(PUBLIC))
def test_default_cache_control(public_tree, resource):
    response = public_tree.get(PUBLIC[resource])
    assert response.status == 200
    assert response.headers["Cache-Control"] == NO_CACHE
    assert "Expires" not in response.headers


@pytest.mark.parametrize("resource", list(PUBLIC))
def test_type_cache_expires_for_anonymous_reads(api, public_tree, kinto_settings, resource):
    kinto_settings(**{f"{resource}_cache_expires_seconds": "30"})
    for path in (PUBLIC[resource], PUBLIC[resource].rsplit("/", 1)[0]):
        response = public_tree.get(path)
        assert response.status == 200, path
        assert response.headers["Cache-Control"] == "max-age=30"
        assert 20 < seconds_from_now(response.headers["Expires"]) < 40
    # Authenticated callers always get no-cache.
    assert api.get(PUBLIC[resource]).headers["Cache-Control"] == NO_CACHE


@pytest.mark.parametrize(
    "setting",
    [
        "shop_orders_record_cache_expires_seconds",
        "shop.orders.record_cache_expires_seconds",
        "shop_record_cache_expires_seconds",
        "shop.record_cache_expires_seconds",
        "record_cache_expires_seconds",
    ],
)
def test_record_cache_settings_per_bucket_and_collection(public_tree, kinto_settings, setting):
    kinto_settings(**{setting: "45"})
    response = public_tree.get(PUBLIC["record"])
    assert response.headers["Cache-Control"] == "max-age=45"


def test_collection_specific_setting_wins(public_tree, kinto_settings):
    kinto_settings(
        shop_orders_record_cache_expires_seconds="10",
        shop_record_cache_expires_seconds="20",
        record_cache_expires_seconds="30",
    )
    assert public_tree.get(PUBLIC["record"]).headers["Cache-Control"] == "max-age=10"


def test_collection_cache_expires_takes_the_max(api, public_tree, kinto_settings):
    api.patch(PUBLIC["collection"], {"data": {"cache_expires": 60}})
    assert public_tree.get(PUBLIC["record"]).headers["Cache-Control"] == "max-age=60"
    kinto_settings(record_cache_expires_seconds="90")
    assert public_tree.get(PUBLIC["record"]).headers["Cache-Control"] == "max-age=90"
    assert api.get(PUBLIC["record"]).headers["Cache-Control"] == NO_CACHE


def test_cache_expires_zero(api, public_tree):
    api.patch(PUBLIC["collection"], {"data": {"cache_expires": 0}})
    response = public_tree.get(PUBLIC["record"])
    assert response.headers["Cache-Control"] == "max-age=0, must-revalidate, no-cache, no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert abs(seconds_from_now(response.headers["Expires"])) < 5


# --- security headers ----------------------------------------------------------------------


def test_security_headers_on_json_responses(api):
    for response in (api.get("/"), api.get("/nowhere"), api.put("/buckets", {})):
        for name, value in SECURITY.items():
            assert response.headers[name] == value


@pytest.mark.parametrize("path", ["/v1/", "/v1/buckets", "/v1/buckets/", "/buckets", "/v1/nope"])
def test_host_not_allowed_is_400(client, db, settings, path):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    response = client.get(path, headers={"Host": "evil.example.com"})
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "Host not allowed",
        "details": [{"location": "header", "name": "Host", "description": "Host not allowed"}],
    }
    assert client.get(path, headers={"Host": "api.example.com"}).status_code != 400


@pytest.mark.parametrize(
    ("path", "status", "errno"),
    [
        ("/v1/buckets/shop/collections//records/%0A", 404, 111),
        ("/v1/nope%0A", 404, 111),
        ("/v2/x%0Ay", 404, 116),
    ],
)
def test_newline_in_path_still_gets_a_json_error(client, db, path, status, errno):
    response = client.get(path)
    assert response.status_code == status
    assert response.json()["errno"] == errno
