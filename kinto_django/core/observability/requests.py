"""What each API request leaves behind: its id (`X-Request-Id`), its metrics and one summary
log line."""

from __future__ import annotations

import re
import uuid

from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch

from kinto_django import jsonutil
from kinto_django.core.observability import metrics
from kinto_django.core.observability.logging import (
    log_request_summary,
    summary_enabled,
)

REQUEST_ID_HEADER = "X-Request-Id"
# Where a request keeps its id: batch sub-requests copy the batch's environ, so share it,
# and a sub-request's own `X-Request-Id` header cannot replace it.
REQUEST_ID_ENVIRON = "kinto.request_id"
# An id from the client or a proxy is kept only if it cannot mangle a log line or a header.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")


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
    state = getattr(request, "kinto", None)
    identities = state.identities if state is not None else {}
    identity = identities.get(request.META.get("HTTP_AUTHORIZATION", ""))
    return identity.user_id if identity is not None else None


def observe(
    request: HttpRequest,
    match: ResolverMatch | None,
    response: HttpResponse,
    seconds: float,
    database: metrics.QueryTimer,
    rid: str,
    subrequest_of: str | None = None,
) -> None:
    """The request's metrics and summary log line; a batch's sub-requests get theirs too
    (`subrequest_of` names the batch's route), so that an operator sees what a batch ran."""
    endpoint = match.url_name or "unnamed" if match is not None else "not-found"
    if metrics.metrics_enabled():
        metrics.observe_request(
            endpoint, request.method, response.status_code, seconds, database.seconds
        )
        metrics.count_unavailable(getattr(response, "kinto_unavailable_cause", None))
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
            **({"subrequest_of": subrequest_of} if subrequest_of else {}),
        }
    )
