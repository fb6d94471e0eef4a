"""JSON responses and the protocol's response headers: timestamps as `ETag` and
`Last-Modified` (spec/02), and the headers a browser script may read (CORS)."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from django.http import HttpResponse

from kinto_django import jsonutil
from kinto_django.core.api.parsers import JSON_TYPE

# CORS: headers a browser script may read, on every response and per kind of endpoint
# (`X-Request-Id` is this server's addition: core.middleware sets it).
ALWAYS_EXPOSED = (
    "Backoff",
    "Retry-After",
    "Alert",
    "Content-Length",
    "Content-Type",
    "X-Request-Id",
)
OBJECT_EXPOSED = ("Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")
LIST_EXPOSED = ("Next-Page", *OBJECT_EXPOSED)
TOTALS_EXPOSED = ("Total-Objects", "Total-Records")


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(jsonutil.dumps(body), status=status, content_type=JSON_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def raw_json_response(
    content: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(content, status=status, content_type=JSON_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# The last instant an HTTP date can express (9999-12-31T23:59:59Z), in milliseconds.
MAX_HTTP_DATE_MS = 253402300799000


def http_date(timestamp_ms: int) -> str:
    """HTTP date of a millisecond timestamp, clamped to what the format can express: forced
    `last_modified` values and `cache_expires` may lie far beyond the year 9999."""
    return formatdate(min(max(timestamp_ms, 0), MAX_HTTP_DATE_MS) / 1000.0, usegmt=True)


def timestamp_headers(timestamp: int) -> dict[str, str]:
    """`ETag` (quoted milliseconds) and `Last-Modified` of the same instant."""
    return {"ETag": f'"{timestamp}"', "Last-Modified": http_date(timestamp)}


def expose(response: HttpResponse, *names: str) -> HttpResponse:
    """Headers the CORS middleware must list in Access-Control-Expose-Headers."""
    existing = getattr(response, "kinto_expose", ())
    response.kinto_expose = (*existing, *names)
    return response
