"""The ASGI→WSGI bridge's environ: headers as WSGI servers give them; spooled bodies."""

from __future__ import annotations

import asyncio
import errno
import json

from kinto_django.core.api import bridge
from kinto_django.core.api.bridge import wsgi_environ


def scope(*headers: tuple[bytes, bytes]) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": "/v1/",
        "query_string": b"",
        "headers": list(headers),
    }


def test_headers_become_http_variables():
    environ = wsgi_environ(
        scope((b"authorization", b"Basic x"), (b"content-type", b"application/json")), b""
    )
    assert environ["HTTP_AUTHORIZATION"] == "Basic x"
    assert environ["CONTENT_TYPE"] == "application/json"


def test_a_header_with_an_underscore_cannot_pass_for_one_with_a_dash():
    """`X_Forwarded_For` and `X-Forwarded-For` would share one environ key: the one with
    underscores is dropped, as gunicorn and Django's servers do, whatever the order."""
    for headers in (
        [(b"x-forwarded-for", b"10.0.0.1"), (b"x_forwarded_for", b"6.6.6.6")],
        [(b"x_forwarded_for", b"6.6.6.6"), (b"x-forwarded-for", b"10.0.0.1")],
    ):
        assert wsgi_environ(scope(*headers), b"")["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert "HTTP_X_REQUEST_ID" not in wsgi_environ(scope((b"x_request_id", b"forged")), b"")


def test_a_full_temporary_folder_while_spooling_an_upload_is_a_507(monkeypatch):
    """A large upload spooled to the temporary folder, which fills: the client gets the
    protocol's 507 (the application is never called), not the ASGI server's bare 500."""

    class FullSpool:
        def __init__(self, *args, **kwargs):
            pass

        def write(self, chunk):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bridge.tempfile, "SpooledTemporaryFile", FullSpool)
    monkeypatch.setattr(bridge, "_spooled_routes", [lambda scope: None])
    called = []

    def wsgi_application(environ, start_response):
        if environ.get(bridge.AUTHORIZE_ONLY):  # the caller may send the body
            start_response("100 Continue", [])
            return [b""]
        called.append(environ)
        start_response("200 OK", [])
        return [b""]

    application = bridge.WSGIBridge(wsgi_application, threads=1)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"x" * 1000, "more_body": False}

    async def send(message):
        sent.append(message)

    request = scope((b"content-type", b"multipart/form-data; boundary=x"))
    asyncio.run(application({**request, "method": "POST"}, receive, send))
    assert not called
    assert sent[0]["status"] == 507
    assert dict(sent[0]["headers"])[b"retry-after"].isdigit()
    assert json.loads(sent[1]["body"])["errno"] == 201
