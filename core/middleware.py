"""Protocol headers around every API response (spec/00, spec/06).

CORS (pre-flight answers, allowed origin, exposed headers), Backoff, end-of-service alerts
and 410, Retry-After, security headers, and the JSON error body for anything that escaped a
view. Only requests routed to the API (URL namespaces starting with `kinto`) are touched, so
a host site's own pages are not.
"""

from __future__ import annotations

import datetime
import fnmatch
import random
from collections.abc import Callable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve

from core import errors, jsonutil
from core.conf import kinto_settings
from core.http import ALWAYS_EXPOSED, json_response

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; ",
    "X-Content-Type-Options": "nosniff",
}


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
    too), else the common headers plus what the view asked for with `core.http.expose`."""
    if view is not None and view.endpoint is not None:
        return list(view.exposed_headers(method))
    names = view.exposed_headers(method) if view is not None else ALWAYS_EXPOSED
    return list(dict.fromkeys([*names, *getattr(response, "kinto_expose", ())]))


def add_content_headers(response: HttpResponse) -> HttpResponse:
    """`Content-Length` and the security headers (what a batch sub-response carries too)."""
    if not response.streaming and "Content-Length" not in response:
        response["Content-Length"] = str(len(response.content))
    for name, value in SECURITY_HEADERS.items():
        response.setdefault(name, value)
    return response


def add_subresponse_headers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Headers of a batch sub-response: exposed headers and content headers, no CORS origin,
    Backoff or Alert (those belong to the batch response itself)."""
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
