"""Protocol headers around every API response (spec/00, spec/06), and its observation.

CORS (pre-flight answers, allowed origin, exposed headers), Backoff, end-of-service alerts
and 410, Retry-After, security headers, and the JSON error body for anything that escaped a
view. Each request also gets an id (`X-Request-Id`), its metrics and one summary log line
(`kinto_django.core.observability`). Only requests routed to the API (URL namespaces
starting with `kinto`) are touched, so a host site's own pages are not."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch
from rest_framework.request import Request

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core.api.bridge import AUTHORIZE_ONLY
from kinto_django.core.api.middleware.cors import exposed_headers, origin_allowed
from kinto_django.core.api.middleware.headers import add_content_headers, end_of_service
from kinto_django.core.api.middleware.routing import api_match, is_api_request, route_view
from kinto_django.core.api.responses import json_response
from kinto_django.core.context import request_state
from kinto_django.core.observability import metrics
from kinto_django.core.observability.logging import current_request_id
from kinto_django.core.observability.requests import REQUEST_ID_HEADER, observe, request_id
from kinto_django.core.query.params import check_querystring_encoding, utf8_once_decoded


def check_url_encoding(request: HttpRequest) -> None:
    """Refuse (400) a URL whose path or query string is not UTF-8 once percent-decoded,
    before routing: such a path names nothing, and would be mangled in a redirect.

    Django replaces a path's undecodable bytes by their percent-encoding, which a path may
    hold literally too: the request line as sent (`RAW_URI`, set by gunicorn and by
    `bridge.WSGIBridge`) tells them apart.
    """
    if not utf8_once_decoded(request.META.get("RAW_URI", "").split("?", 1)[0]):
        raise errors.KintoError(400, errors.ERRNO.INVALID_PARAMETERS, "Invalid URL path.")
    check_querystring_encoding(request.META.get("QUERY_STRING", ""))


def release_request(request: HttpRequest) -> None:
    """Free a request's body and data once its response is built.

    A request's objects point at each other (DRF's view, request and response; Django's
    messages storage and the request), so they are freed by the garbage collector's full
    passes only, which may come hundreds of requests later: with bodies of up to
    `max_request_body_bytes`, a worker would grow by gigabytes meanwhile. The cycles that
    hold the body, its parsed data and the response are cut here: the views (a viewset's
    bound handlers point back at it) forget the request, and DRF requests their
    `parser_context` (which points back at them).
    """
    state = request_state(request)
    for view in state.views:
        drf_request = vars(view).get("request")
        if isinstance(drf_request, Request):
            drf_request.parser_context = {}
        vars(view).clear()
    state.release()


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
            if not request.META.get(AUTHORIZE_ONLY):  # the bridge's check comes again, whole
                observe(request, match, response, time.perf_counter() - started, database, rid)
        finally:
            current_request_id.reset(token)
        release_request(request)
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
        try:
            check_url_encoding(request)
        except errors.KintoError as error:
            return self.decorate(request, errors.error_response(error), None, eos, preflight)
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
