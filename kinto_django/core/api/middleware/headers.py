"""Headers every API response carries: security headers, `Content-Length`, end-of-service
alerts; and what a batch sub-response keeps of them."""

from __future__ import annotations

import datetime

from django.http import HttpRequest, HttpResponse

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.api.middleware.cors import exposed_headers
from kinto_django.core.api.middleware.routing import api_match, route_view
from kinto_django.core.observability.requests import REQUEST_ID_HEADER, request_id

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; ",
    "X-Content-Type-Options": "nosniff",
}


def alert_header(code: str, message: str | None, url: str | None) -> str:
    return jsonutil.dumps({"code": code, "message": message, "url": url}).decode()


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
