"""Protocol headers around every API response (spec/00, spec/06), and its observation.

CORS (pre-flight answers, allowed origin, exposed headers), Backoff, end-of-service alerts
and 410, Retry-After, security headers, and the JSON error body for anything that escaped a
view. Each request also gets an id (`X-Request-Id`), its metrics (`kinto_django.core.observability.metrics`) and one
summary log line (`kinto_django.core.observability.logging`). Only requests routed to the API (URL namespaces starting
with `kinto`) are touched, so a host site's own pages are not.
"""

from __future__ import annotations

import datetime
import fnmatch
import random
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.api.http import ALWAYS_EXPOSED, json_response
from kinto_django.core.observability import metrics
from kinto_django.core.observability.logging import (
    current_request_id,
    log_request_summary,
    summary_enabled,
)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; ",
    "X-Content-Type-Options": "nosniff",
}

REQUEST_ID_HEADER = "X-Request-Id"
# Where a request keeps its id: batch sub-requests copy the batch's environ, so share it,
# and a sub-request's own `X-Request-Id` header cannot replace it.
REQUEST_ID_ENVIRON = "kinto.request_id"
# An id from the client or a proxy is kept only if it cannot mangle a log line or a header.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")


def alert_header(code: str, message: str | None, url: str | None) -> str:
    return jsonutil.dumps({"code": code, "message": message, "url": url}).decode()


def api_match(request: HttpRequest) -> ResolverMatch | None:
    """The route of an API request, or None for anything else (a host site's pages)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
    if any(namespace.startswith("kinto") for namespace in match.namespaces):
        return match
    return None


def is_api_request(request: HttpRequest) -> bool:
    return api_match(request) is not None


def route_view(match: ResolverMatch | None) -> Any:
    """An instance of the protocol view behind a route (None for redirects and 404s)."""
    if match is None:
        return None
    view_class = getattr(match.func, "view_class", None)
    route_target = getattr(view_class, "route_target", None)
    if route_target is not None:
        # An alias route (the personal `default` bucket) answers as the route it stands for.
        return route_view(route_target(match))
    if view_class is None or not hasattr(view_class, "exposed_headers"):
        return None
    return view_class(**getattr(match.func, "view_initkwargs", {}))


def end_of_service() -> tuple[str, str] | None:
    """('soft-eol' | 'hard-eol', alert header) when `eos` is configured."""
    eos = kinto_settings.eos
    if not eos:
        return None
    try:
        deadline = datetime.date.fromisoformat(eos[:10])
    except ValueError:
        return None
    code = "hard-eol" if datetime.date.today() >= deadline else "soft-eol"
    url = kinto_settings.eos_url or kinto_settings.project_docs
    return code, alert_header(code, kinto_settings.eos_message, url)


def origin_allowed(origin: str | None) -> str | None:
    """The value of Access-Control-Allow-Origin for a request's `Origin`, if it is allowed."""
    if not origin:
        return None
    patterns = kinto_settings.cors_origins
    if "*" in patterns:
        return "*"
    if any(fnmatch.fnmatchcase(origin, pattern) for pattern in patterns):
        return origin
    return None


def exposed_headers(view: Any, method: str, response: HttpResponse) -> list[str]:
    """What a script may read: decided by the endpoint kind for resource endpoints (on errors
    too), else the common headers plus what the view asked for with `kinto_django.core.api.http.expose`."""
    if view is not None and view.endpoint is not None:
        return list(view.exposed_headers(method))
    names = view.exposed_headers(method) if view is not None else ALWAYS_EXPOSED
    return list(dict.fromkeys([*names, *getattr(response, "kinto_expose", ())]))


def request_id(request: HttpRequest) -> str:
    """The request's id: the `X-Request-Id` sent by the client or a proxy when it is a sane
    token, else a new UUID. Sub-requests of a batch have the batch's."""
    existing = request.META.get(REQUEST_ID_ENVIRON)
    if existing:
        return existing
    sent = request.META.get("HTTP_X_REQUEST_ID", "")
    value = sent if SANE_REQUEST_ID.fullmatch(sent) else str(uuid.uuid4())
    request.META[REQUEST_ID_ENVIRON] = value
    return value


def response_errno(response: HttpResponse) -> int | None:
    """The errno of an error body (small JSON documents), None for anything else."""
    if response.status_code < 400 or response.streaming:
        return None
    try:
        body = jsonutil.loads_stored(response.content)
    except ValueError:
        return None
    errno = body.get("errno") if isinstance(body, dict) else None
    return errno if isinstance(errno, int) else None


def caller_id(request: HttpRequest) -> str | None:
    """The prefixed user id, if the request was authenticated while it was served (never
    authenticates only to log it: an account check costs a password hash)."""
    identities = getattr(request, "kinto_identities", None) or {}
    identity = identities.get(request.META.get("HTTP_AUTHORIZATION", ""))
    return identity.user_id if identity is not None else None


def observe(
    request: HttpRequest,
    match: ResolverMatch,
    response: HttpResponse,
    seconds: float,
    database: metrics.QueryTimer,
    rid: str,
) -> None:
    """The request's metrics and summary log line."""
    endpoint = match.url_name or "unnamed"
    if metrics.metrics_enabled():
        metrics.observe_request(
            endpoint, request.method, response.status_code, seconds, database.seconds
        )
    if not summary_enabled():
        return
    log_request_summary(
        {
            "method": request.method,
            "path": request.path,
            "route": endpoint,
            "status": response.status_code,
            "errno": response_errno(response),
            "duration_ms": round(seconds * 1000, 3),
            "db_ms": round(database.seconds * 1000, 3),
            "db_queries": database.queries,
            "user_id": caller_id(request),
            "request_id": rid,
            "agent": request.META.get("HTTP_USER_AGENT"),
        }
    )


def add_content_headers(response: HttpResponse) -> HttpResponse:
    """`Content-Length` and the security headers (what a batch sub-response carries too)."""
    if not response.streaming and "Content-Length" not in response:
        response["Content-Length"] = str(len(response.content))
    for name, value in SECURITY_HEADERS.items():
        response.setdefault(name, value)
    return response


def add_subresponse_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Headers of a batch sub-response: exposed headers, content headers and the batch's
    request id, no CORS origin, Backoff or Alert (those belong to the batch response)."""
    response[REQUEST_ID_HEADER] = request_id(request)
    if response.status_code != 405:
        view = route_view(api_match(request))
        response["Access-Control-Expose-Headers"] = ", ".join(
            exposed_headers(view, request.method, response)
        )
    return add_content_headers(response)


class ProtocolMiddleware:
    """Adds the protocol's cross-cutting headers and answers CORS pre-flight requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = api_match(request)
        if match is None:
            return self.get_response(request)
        started = time.perf_counter()
        rid = request_id(request)
        token = current_request_id.set(rid)
        try:
            with metrics.database_time() as database:
                response = self.respond(request, match)
            response[REQUEST_ID_HEADER] = rid
            observe(request, match, response, time.perf_counter() - started, database, rid)
        finally:
            current_request_id.reset(token)
        return response

    def respond(self, request: HttpRequest, match: ResolverMatch) -> HttpResponse:
        view = route_view(match)
        eos = end_of_service()
        preflight = False
        try:
            request.get_host()
        except DisallowedHost:
            # Not in ALLOWED_HOSTS: refused here, before any view builds a URL with it.
            response = errors.error_response(errors.invalid("header", "Host", "Host not allowed"))
            return self.decorate(request, response, None, eos, preflight)
        if eos is not None and eos[0] == "hard-eol":
            error = errors.KintoError(
                410,
                errors.ERRNO.SERVICE_DEPRECATED,
                "The service you are trying to connect no longer exists at this location.",
            )
            response = errors.error_response(error)
        elif request.method == "OPTIONS" and view is not None:
            preflight = True
            response = self.preflight(request, view)
        else:
            try:
                response = self.get_response(request)
            except Exception as exc:  # noqa: BLE001 - anything unexpected becomes a 500 body
                response = errors.error_response(errors.as_kinto_error(exc))
        return self.decorate(request, response, view, eos, preflight)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        return errors.error_response(errors.as_kinto_error(exception))

    def preflight(self, request: HttpRequest, view: Any) -> HttpResponse:
        """A CORS pre-flight answer: no authentication, the route's methods and headers."""
        missing = [
            {"location": "header", "name": name, "description": "this header is mandatory"}
            for name, key in (
                ("Access-Control-Request-Method", "HTTP_ACCESS_CONTROL_REQUEST_METHOD"),
                ("Origin", "HTTP_ORIGIN"),
            )
            if not request.META.get(key)
        ]
        if missing:
            return errors.error_response(errors.invalid_many(missing))
        origin = request.META["HTTP_ORIGIN"]
        if origin_allowed(origin) is None:
            return errors.error_response(
                errors.invalid("header", "Origin", f"{origin} not allowed")
            )
        methods = view.methods()
        if request.META["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] not in methods:
            return errors.error_response(
                errors.invalid("header", "Access-Control-Request-Method", "Method not allowed")
            )
        response = json_response(None)
        response["Access-Control-Allow-Methods"] = ",".join(view.allow_header())
        requested = [
            name.strip()
            for name in request.META.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "").split(",")
            if name.strip()
        ]
        exposed = [name for method in methods for name in view.exposed_headers(method)]
        response["Access-Control-Allow-Headers"] = ",".join(dict.fromkeys([*requested, *exposed]))
        max_age = kinto_settings.cors_max_age_seconds
        if max_age is not None:
            response["Access-Control-Max-Age"] = str(max_age)
        return response

    def decorate(
        self,
        request: HttpRequest,
        response: HttpResponse,
        view: Any,
        eos: tuple[str, str] | None,
        preflight: bool,
    ) -> HttpResponse:
        origin = request.META.get("HTTP_ORIGIN")
        allowed_origin = origin_allowed(origin)
        if allowed_origin:
            response["Access-Control-Allow-Origin"] = allowed_origin
        status = response.status_code
        if not preflight and status != 405:
            response["Access-Control-Expose-Headers"] = ", ".join(
                exposed_headers(view, request.method, response)
            )
        backoff = kinto_settings.backoff
        percentage = kinto_settings.backoff_percentage
        if backoff is not None and (percentage is None or random.random() * 100 < percentage):
            response["Backoff"] = str(backoff)
        if eos is not None:
            response["Alert"] = eos[1]
        if status in (503, 409) and "Retry-After" not in response:
            response["Retry-After"] = str(kinto_settings.retry_after_seconds)
        return add_content_headers(response)
