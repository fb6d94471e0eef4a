"""A request's objects are freed when its response is built, not at the next full garbage
collection: they would hold its body, parsed data and response (up to
`max_request_body_bytes` each) for hundreds of requests (tests/e2e/test_memory.py measures
a worker)."""

from __future__ import annotations

import base64
import gc
import io
import sys

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.request import Request
from rest_framework.views import APIView

from kinto_django import jsonutil
from kinto_django.core.api.bridge import run
from tests.conftest import PASSWORD


def environ(method: str, path: str, body: bytes = b"") -> dict:
    credentials = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Basic {credentials}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
    }


def alive(kind: type) -> list:
    return [o for o in gc.get_objects() if isinstance(o, kind)]


@pytest.fixture
def handler(db):
    """Django's WSGI handler, keeping the test's database connection open between requests
    (as Django's test client does: a request's end would close it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_views_and_drf_requests_do_not_outlive_their_response(handler):
    body = jsonutil.dumps({"data": {"blob": "x" * 100_000}})
    for method, path, payload in [
        ("PUT", "/v1/buckets/b", b""),
        ("PUT", "/v1/buckets/b/collections/c", b""),
    ]:
        assert run(handler, environ(method, path, payload))[0] == 201
    gc.collect()
    gc.disable()
    try:
        requests = [
            ("PUT", "/v1/buckets/b/collections/c/records/r1", body),
            ("GET", "/v1/buckets/b/collections/c/records", b""),
            (
                "POST",
                "/v1/batch",
                jsonutil.dumps({"requests": [{"method": "PATCH", "path": "/buckets/b"}] * 3}),
            ),
        ]
        for method, path, payload in requests:
            status, _, content = run(handler, environ(method, path, payload))
            assert status in (200, 201), content
            del content
            assert alive(APIView) == [] and alive(Request) == []
    finally:
        gc.enable()


def test_the_bridge_releases_the_request_body_it_buffered():
    seen = {}

    def application(environ, start_response):
        seen["input"] = environ["wsgi.input"]
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    assert run(application, environ("POST", "/", b"abc"))[2] == b"abc"
    assert seen["input"].closed
