"""The ASGI→WSGI bridge's environ: headers as WSGI servers give them."""

from __future__ import annotations

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
