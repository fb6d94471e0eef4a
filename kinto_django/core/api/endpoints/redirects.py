"""Redirects (trailing slash, missing version prefix) and the JSON 404 for unknown URLs."""

from __future__ import annotations

import re
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core.api.locations import absolute_url
from kinto_django.core.api.responses import http_date
from kinto_django.core.timestamps import now_ms


def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Unknown URL under the API: a trailing slash is redirected, anything else is a 404."""
    if path.endswith("/") and kinto_settings.trailing_slash_redirect_enabled:
        target = request.path.rstrip("/")
        try:
            resolve(target)
        except Resolver404:
            target = None
        if target:
            query = request.META.get("QUERY_STRING")
            return redirect_response(
                target + (f"?{query}" if query else ""),
                request,
                kinto_settings.trailing_slash_redirect_ttl_seconds,
            )
    return errors.error_response(errors.url_not_found())


def redirect_response(path: str, request: HttpRequest, ttl: int) -> HttpResponse:
    """A 307 to `path` (made absolute), cached `ttl` seconds (-1: no header, 0: no-cache)."""
    response = HttpResponse(
        f"307 Temporary Redirect\n\nThe resource has been moved to {path}; "
        "you should be redirected automatically.\n\n",
        status=307,
        content_type="text/plain; charset=UTF-8",
    )
    response["Location"] = absolute_url(request, location_safe(path))
    if ttl > 0:
        response["Cache-Control"] = f"max-age={ttl}"
        response["Expires"] = http_date(now_ms() + ttl * 1000)
    elif ttl == 0:
        response["Cache-Control"] = "no-cache"
    return response


UNSAFE_IN_HEADER = re.compile(r"[^\x21-\x7e]")


def location_safe(target: str) -> str:
    """`target` with spaces, control and non-ASCII characters percent-encoded: a newline in a
    header value is a server error, and headers are ASCII. The path is decoded text (UTF-8),
    the query string the raw bytes of the request (WSGI latin-1)."""
    path, mark, query = target.partition("?")

    def escape(text: str, encoding: str, errors: str) -> str:
        return UNSAFE_IN_HEADER.sub(
            lambda match: quote(match.group().encode(encoding, errors), safe=""), text
        )

    return escape(path, "utf-8", "surrogatepass") + mark + escape(query, "latin-1", "replace")


def version_redirect(request: HttpRequest, path: str = "") -> HttpResponse:
    """A path without version prefix answers 307 to the same path under `/v1` (spec/00)."""
    if not kinto_settings.version_prefix_redirect_enabled:
        return errors.error_response(errors.url_not_found())
    if "\n" in path or "\r" in path:
        # Never a redirect for a line break (a header-splitting attempt): a path without a
        # version prefix names no API version here (`/v1<LF>` is under the API: 111).
        if re.match(r"v\d+", path):
            return errors.error_response(errors.url_not_found())
        return unsupported_version(request, path)
    if request.method == "OPTIONS":
        # A pre-flight cannot follow a redirect; let it pass so the real request gets the 307.
        return HttpResponse(status=200, content_type="text/html; charset=UTF-8")
    query = request.META.get("QUERY_STRING")
    target = f"{request.path[: len(request.path) - len(path)]}v1/{path}" + (
        f"?{query}" if query else ""
    )
    return redirect_response(target, request, kinto_settings.version_prefix_redirect_ttl_seconds)


def root_redirect(request: HttpRequest) -> HttpResponse:
    """`/v1` → `/v1/`."""
    query = request.META.get("QUERY_STRING")
    return redirect_response(
        request.path + "/" + (f"?{query}" if query else ""),
        request,
        kinto_settings.trailing_slash_redirect_ttl_seconds,
    )


def unsupported_version(request: HttpRequest, path: str = "") -> HttpResponse:
    return errors.error_response(
        errors.KintoError(
            404,
            errors.ERRNO.VERSION_NOT_AVAILABLE,
            "The requested API version is not available on this server.",
        )
    )
