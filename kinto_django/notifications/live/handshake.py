"""What the opening request of a live connection (a WebSocket handshake, an event stream's
GET) says about its caller, read from the ASGI scope: credentials, a host site's session,
and whether a browser page of its `Origin` may use them.

Credentials come from the `Authorization` header, never from the URL, which proxies and
access logs record; they are never logged.
"""

from __future__ import annotations

import fnmatch
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from kinto_django.conf import kinto_settings
from kinto_django.core.api.middleware.cors import origin_allowed


def header(scope: dict[str, Any], name: bytes) -> str:
    """A request header (`name` in lower case), or an empty string."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def client_address(scope: dict[str, Any]) -> str | None:
    """The client's address as the server saw it (the proxy's unless the server trusts
    its forwarding headers, e.g. uvicorn's `--forwarded-allow-ips`)."""
    client = scope.get("client")
    return client[0] if client else None


def credentials_allowed(origin: str) -> bool:
    """Whether a browser page of `origin` may use credentials its browser attaches on its own
    (cached Basic auth) on a WebSocket handshake: only origins listed by `cors_origins`
    explicitly (`*` does not count), as a credentialed CORS request would require."""
    return any(
        fnmatch.fnmatchcase(origin, pattern)
        for pattern in kinto_settings.cors_origins
        if pattern != "*"
    )


def handshake_authorization(scope: dict[str, Any]) -> str:
    """The handshake's `Authorization` header, unless it comes from a browser page whose
    origin may not use credentials (`credentials_allowed`): such a page must send an
    `authenticate` message instead."""
    origin = header(scope, b"origin")
    if origin and not credentials_allowed(origin):
        return ""
    return header(scope, b"authorization")


def site_session_key(scope: dict[str, Any]) -> str | None:
    """A host site's session cookie (the `django` policy), used only when the connection
    comes from the site's own pages: same origin as the request's host, or one of
    `CSRF_TRUSTED_ORIGINS`. Browsers attach cookies to any page's WebSocket, so a page of
    another site must not get a live connection as the user (as CSRF protects writes)."""
    if "django" not in kinto_settings.auth_policies:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(header(scope, b"cookie"))
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    origin = header(scope, b"origin")
    if origin:
        same_host = urlsplit(origin).netloc == header(scope, b"host")
        if not same_host and origin not in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
            return None
    return morsel.value


def cors_headers(scope: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """`Access-Control-Allow-Origin` for an allowed `Origin` (`cors_origins`), as the API's."""
    allowed = origin_allowed(header(scope, b"origin"))
    return [(b"access-control-allow-origin", allowed.encode())] if allowed else []
