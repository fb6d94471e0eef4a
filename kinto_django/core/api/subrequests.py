"""Requests run in-process: batch sub-requests, the personal bucket's real request and the
live feed's list reads go through the same routing, middleware headers aside, as HTTP."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from kinto_django import errors, jsonutil
from kinto_django.core.api.locations import api_root
from kinto_django.core.api.parsers import JSON_TYPE
from kinto_django.core.context import request_state


def build_subrequest(
    outer: HttpRequest, method: str, path: str, headers: dict[str, str], body: Any
) -> WSGIRequest:
    """A request with the outer request's headers overridden by the sub-request's own, sharing
    the outer request's identities and event collector. A body is always sent as JSON."""
    parts = urlsplit(path)
    environ = {k: v for k, v in outer.META.items() if k not in ("CONTENT_LENGTH", "wsgi.input")}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    payload = b""
    if body is not None:
        payload = jsonutil.dumps(body)
        environ["CONTENT_TYPE"] = f"{JSON_TYPE}; charset=utf-8"
    environ.pop("HTTP_CONTENT_LENGTH", None)
    environ.update(
        {
            "REQUEST_METHOD": method,
            # WSGI strings are bytes decoded as latin-1 (`/buckets/%ff` or `/é` must not 500).
            "PATH_INFO": unquote_to_bytes(parts.path).decode("latin-1"),
            "QUERY_STRING": parts.query.encode().decode("latin-1"),
            "CONTENT_LENGTH": str(len(payload)),
            "wsgi.input": io.BytesIO(payload),
            # Not in the environ of a request served by Django's ASGI handler.
            "wsgi.url_scheme": outer.scheme,
        }
    )
    request = WSGIRequest(environ)
    # What the site's middleware attached to the outer request (its logged-in user).
    for attribute in ("session", "user"):
        if hasattr(outer, attribute):
            setattr(request, attribute, getattr(outer, attribute))
    api_root(outer)  # looked up once for the whole batch
    request.kinto = request_state(outer).for_subrequest(in_batch=True)
    return request


def dispatch(request: WSGIRequest) -> HttpResponse:
    """Route and run a sub-request in-process; every failure becomes an error response."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return errors.error_response(errors.url_not_found())
    request.resolver_match = match
    try:
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render") and callable(response.render):
            response = response.render()
        return response
    except Exception as exc:  # noqa: BLE001 - the batch reports every failure inline
        return errors.error_response(errors.as_kinto_error(exc))
