"""Protocol headers around every API response (spec/00, spec/06).

CORS (pre-flight answers and exposed headers), Backoff, end-of-service alerts and 410,
security headers, and the JSON error body for anything that escaped a view. Only requests
routed to the API (URL namespace `kinto`) are touched, so a host site's pages are not.
"""

from __future__ import annotations

import datetime
import fnmatch
import random
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from core import errors, jsonutil
from core.conf import kinto_settings
from core.http import json_response

ALWAYS_EXPOSED = ("Backoff", "Retry-After", "Alert", "Content-Length", "Content-Type")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; ",
    "X-Content-Type-Options": "nosniff",
}


def alert_header(code: str, message: str | None, url: str | None) -> str:
    return jsonutil.dumps({"code": code, "message": message, "url": url}).decode()


def is_api_request(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
    return any(namespace.startswith("kinto") for namespace in match.namespaces)


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


def origin_allowed(origin: str) -> str | None:
    """The value of Access-Control-Allow-Origin for this request, if any."""
    patterns = kinto_settings.cors_origins
    if "*" in patterns:
        return "*"
    if origin and any(fnmatch.fnmatchcase(origin, pattern) for pattern in patterns):
        return origin
    return None


class ProtocolMiddleware:
    """Adds the protocol's cross-cutting headers and answers CORS pre-flight requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_request(request):
            return self.get_response(request)
        eos = end_of_service()
        if eos is not None and eos[0] == "hard-eol":
            error = errors.KintoError(
                410,
                errors.ERRNO.SERVICE_DEPRECATED,
                "The service you are trying to connect no longer exists at this location.",
            )
            response = errors.error_response(error)
        elif request.method == "OPTIONS":
            response = self.preflight(request)
        else:
            try:
                response = self.get_response(request)
            except Exception as exc:  # noqa: BLE001 - anything unexpected becomes a 500 body
                response = errors.error_response(errors.as_kinto_error(exc))
        return self.decorate(request, response, eos)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        return errors.error_response(errors.as_kinto_error(exception))

    def preflight(self, request: HttpRequest) -> HttpResponse:
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
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return errors.error_response(errors.url_not_found())
        view_class = getattr(match.func, "view_class", None)
        methods = ["OPTIONS"]
        if view_class is not None and hasattr(view_class, "allow_header"):
            view = view_class(**getattr(match.func, "view_initkwargs", {}))
            methods = view.allow_header()
        response = json_response(None)
        response["Access-Control-Allow-Methods"] = ",".join(methods)
        requested = request.META.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        allowed = requested if requested else ",".join(ALWAYS_EXPOSED)
        response["Access-Control-Allow-Headers"] = allowed
        max_age = kinto_settings.cors_max_age_seconds
        if max_age is not None:
            response["Access-Control-Max-Age"] = str(max_age)
        return response

    def decorate(
        self, request: HttpRequest, response: HttpResponse, eos: tuple[str, str] | None
    ) -> HttpResponse:
        allowed_origin = origin_allowed(request.META.get("HTTP_ORIGIN", ""))
        if allowed_origin:
            response["Access-Control-Allow-Origin"] = allowed_origin
            exposed = [*ALWAYS_EXPOSED, *getattr(response, "kinto_expose", ())]
            response["Access-Control-Expose-Headers"] = ", ".join(dict.fromkeys(exposed))
        backoff = kinto_settings.backoff
        percentage = kinto_settings.backoff_percentage
        if backoff is not None and (percentage is None or random.random() * 100 < percentage):
            response["Backoff"] = str(backoff)
        if eos is not None:
            response["Alert"] = eos[1]
        if response.status_code in (503, 409) and "Retry-After" not in response:
            response["Retry-After"] = str(kinto_settings.retry_after_seconds)
        if not response.streaming and "Content-Length" not in response:
            response["Content-Length"] = str(len(response.content))
        if response.get("Content-Type", "").startswith("application/json"):
            for name, value in SECURITY_HEADERS.items():
                response.setdefault(name, value)
        return response
