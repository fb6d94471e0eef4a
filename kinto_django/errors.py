"""The one place that turns failures into the protocol's error body.

`{"code", "errno", "error", "message"?, "details"?, "info"?}` — see spec/00. Views raise
`KintoError` (or a helper below); `exception_handler` (DRF) and `error_response` (plain Django
views, middleware) both render it.
"""

from __future__ import annotations

import errno
import logging
import time
from http import HTTPStatus
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError, IntegrityError, OperationalError
from django.http import HttpResponse
from redis import exceptions as redis_errors
from rest_framework import exceptions as drf_exceptions

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings

logger = logging.getLogger(__name__)

# PostgreSQL deadlock_detected and serialization_failure.
TRANSIENT_PGCODES = ("40P01", "40001")


class ERRNO:
    """Stable application error numbers (spec/00)."""

    MISSING_AUTH_TOKEN = 104
    INVALID_PARAMETERS = 107
    INVALID_POSTED_DATA = 109
    INVALID_RESOURCE_ID = 110
    MISSING_RESOURCE = 111
    MODIFIED_MEANWHILE = 114
    METHOD_NOT_ALLOWED = 115
    VERSION_NOT_AVAILABLE = 116
    CLIENT_REACHED_CAPACITY = 117
    FORBIDDEN = 121
    CONSTRAINT_VIOLATED = 122
    BACKEND = 201
    SERVICE_DEPRECATED = 202
    UNDEFINED = 999


class CAUSE:
    """Why a request could not be served (503, or 507 for a full disk): the label of the
    `kinto_unavailable_responses` metric, so that an operator tells an outage from a
    timeout or from a lack of connections."""

    DATABASE = "database_unavailable"
    CONNECTIONS = "database_connections"
    STATEMENT_TIMEOUT = "statement_timeout"
    LOCK_TIMEOUT = "lock_timeout"
    DISK_FULL = "disk_full"
    CACHE = "cache_unavailable"
    LIVE_FEED = "live_feed_unavailable"
    BATCH_LOCKS = "batch_lock_limit"
    READ_ONLY = "read_only"


class KintoError(Exception):
    """An error response: status, errno and the optional message, details and headers."""

    def __init__(
        self,
        status: int,
        errno: int,
        message: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message or "")
        self.status = status
        self.errno = errno
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.error = error or HTTPStatus(status).phrase
        self.retryable = False
        # For 503 and 507: one of CAUSE.
        self.cause: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.status, "errno": self.errno, "error": self.error}
        if self.message is not None:
            body["message"] = self.message
        if self.details is not None:
            body["details"] = self.details
        if self.status >= 500 and self.status != 503:
            body["info"] = kinto_settings.error_info_link
        return body


def validation_message(details: list[dict[str, Any]]) -> str:
    """The message rule of spec/00: derived from the first detail sorted by name."""
    first = sorted(details, key=lambda d: (d.get("name") is not None, str(d.get("name") or "")))[0]
    name, location, description = first.get("name"), first["location"], first["description"]
    if name is not None and str(name) in str(description):
        return str(description)
    if name is not None:
        return f"{name} in {location}: {description}"
    return f"{location}: {description}"


def invalid(location: str, name: str | None, description: str, status: int = 400) -> KintoError:
    """A request-validation error (errno 107, error "Invalid parameters")."""
    return invalid_many([{"location": location, "name": name, "description": description}], status)


def invalid_many(details: list[dict[str, Any]], status: int = 400) -> KintoError:
    return KintoError(
        status,
        ERRNO.INVALID_PARAMETERS,
        validation_message(details),
        details=details,
        error="Invalid parameters",
    )


def invalid_id() -> KintoError:
    """An id that does not match its type's pattern (spec/01)."""
    return invalid("path", None, "Invalid object id")


def unauthorized() -> KintoError:
    return KintoError(
        401,
        ERRNO.MISSING_AUTH_TOKEN,
        "Please authenticate yourself to use this endpoint.",
        headers={"WWW-Authenticate": 'Basic realm="Realm"'},
    )


def forbidden() -> KintoError:
    return KintoError(403, ERRNO.FORBIDDEN, "This user cannot access this resource.")


def object_not_found(object_id: str, resource_name: str) -> KintoError:
    return KintoError(
        404, ERRNO.INVALID_RESOURCE_ID, details={"id": object_id, "resource_name": resource_name}
    )


def parent_not_found(object_id: str, resource_name: str) -> KintoError:
    return KintoError(
        404, ERRNO.MISSING_RESOURCE, details={"id": object_id, "resource_name": resource_name}
    )


def url_not_found() -> KintoError:
    return KintoError(
        404, ERRNO.MISSING_RESOURCE, "The resource you are looking for could not be found."
    )


def method_not_allowed(allowed: list[str]) -> KintoError:
    return KintoError(
        405,
        ERRNO.METHOD_NOT_ALLOWED,
        "Method not allowed on this endpoint.",
        headers={"Allow": ", ".join(allowed)},
    )


def precondition_failed(existing: dict[str, Any] | None = None) -> KintoError:
    details = {"existing": existing} if existing is not None else None
    return KintoError(
        412, ERRNO.MODIFIED_MEANWHILE, "Resource was modified meanwhile", details=details
    )


def conflict() -> KintoError:
    return KintoError(
        409,
        ERRNO.CONSTRAINT_VIOLATED,
        "Integrity constraint violated, please retry.",
        headers={"Retry-After": str(kinto_settings.retry_after_seconds)},
    )


def too_many_requests(message: str) -> KintoError:
    """A client holds more of a bounded resource than it may (e.g. live connections)."""
    return KintoError(
        429,
        ERRNO.CLIENT_REACHED_CAPACITY,
        message,
        headers={"Retry-After": str(kinto_settings.retry_after_seconds)},
    )


def service_unavailable(message: str | None = None, cause: str = CAUSE.DATABASE) -> KintoError:
    error = KintoError(
        503,
        ERRNO.BACKEND,
        message
        or "Service temporary unavailable due to overloading or maintenance, please retry later.",
        headers={"Retry-After": str(kinto_settings.retry_after_seconds)},
    )
    error.cause = cause
    return error


def insufficient_storage() -> KintoError:
    """The database's disk is full: the write was rolled back, nothing stored is damaged."""
    error = KintoError(
        507,
        ERRNO.BACKEND,
        "The server has no storage space left for this change: nothing was written. "
        "Please retry later.",
        headers={"Retry-After": str(kinto_settings.retry_after_seconds)},
    )
    error.cause = CAUSE.DISK_FULL
    return error


# Until when (monotonic seconds) the database is short of connection slots: see
# `connections_are_short`.
_connections_short_until = 0.0
CONNECTIONS_SHORT_SECONDS = 60.0


def note_connection_shortage() -> None:
    """PostgreSQL refused a connection for lack of slots (this process's threads, or other
    processes, hold them all)."""
    global _connections_short_until
    _connections_short_until = time.monotonic() + CONNECTIONS_SHORT_SECONDS


def connections_are_short() -> bool:
    """Whether a connection was refused for lack of slots in the last minute: threads then
    give their connection back after each request instead of keeping it for
    `conn_max_age` (idle threads holding every slot would keep the server at 503 after the
    load dropped)."""
    return time.monotonic() < _connections_short_until


def database_failure_cause(exc: BaseException) -> str:
    """Which CAUSE an `OperationalError` of either database stands for (noting a shortage
    of connection slots)."""
    pgcode = getattr(exc.__cause__ or exc, "pgcode", None)
    text = str(exc).lower()
    if pgcode == "57014":  # query_canceled: statement_timeout
        return CAUSE.STATEMENT_TIMEOUT
    if pgcode == "55P03" or "database is locked" in text:  # lock_not_available
        return CAUSE.LOCK_TIMEOUT
    if pgcode == "53300" or "too many clients" in text or "connection slots" in text:
        note_connection_shortage()
        return CAUSE.CONNECTIONS
    if pgcode == "53100" or "disk is full" in text or "no space left on device" in text:
        return CAUSE.DISK_FULL
    return CAUSE.DATABASE


def internal_error() -> KintoError:
    return KintoError(
        500, ERRNO.UNDEFINED, "A programmatic error occurred, developers have been informed."
    )


# The errno of the errors DRF raises, by status.
DRF_ERRNOS = {
    400: ERRNO.INVALID_PARAMETERS,
    401: ERRNO.MISSING_AUTH_TOKEN,
    403: ERRNO.FORBIDDEN,
    404: ERRNO.MISSING_RESOURCE,
    405: ERRNO.METHOD_NOT_ALLOWED,
    406: ERRNO.INVALID_PARAMETERS,
    415: ERRNO.INVALID_PARAMETERS,
}


def as_kinto_error(exc: BaseException) -> KintoError:
    """Map any exception to the error the client sees (logging unexpected ones)."""
    if isinstance(exc, KintoError):
        return exc
    if isinstance(exc, drf_exceptions.APIException):
        # Raised by DRF itself or a host site's authentication class (CSRF failures...).
        number = DRF_ERRNOS.get(exc.status_code, ERRNO.UNDEFINED)
        return KintoError(exc.status_code, number, str(exc.detail))
    if isinstance(exc, SuspiciousOperation):
        logger.warning("Suspicious request: %s", exc)
        return KintoError(400, ERRNO.INVALID_PARAMETERS, "Bad request", error="Bad Request")
    if isinstance(exc, IntegrityError):
        return conflict()
    if isinstance(exc, OperationalError):
        cause = database_failure_cause(exc)
        logger.warning("Database unavailable (%s): %s", cause, exc)
        if cause == CAUSE.DISK_FULL:
            return insufficient_storage()
        error = service_unavailable(cause=cause)
        error.retryable = is_transient(exc)
        return error
    if isinstance(exc, DatabaseError):
        logger.exception("Database error")
        return internal_error()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        # A file being stored (an upload, an attachment) filled its disk.
        logger.warning("No storage space left: %s", exc)
        return insufficient_storage()
    if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
        # The Redis cache (`cache_url`) is down: the client may retry, as for the database.
        logger.warning("Cache unavailable: %s", exc)
        return service_unavailable(cause=CAUSE.CACHE)
    logger.exception("Unexpected error", exc_info=exc)
    return internal_error()


def is_transient(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the whole transaction may simply be run again."""
    cause = exc.__cause__ or exc
    return getattr(cause, "pgcode", None) in TRANSIENT_PGCODES


def error_response(error: KintoError) -> HttpResponse:
    response = HttpResponse(
        jsonutil.dumps(error.body()), status=error.status, content_type="application/json"
    )
    for name, value in error.headers.items():
        response[name] = value
    # Counted by cause in the request metrics (core.observability).
    response.kinto_unavailable_cause = error.cause
    # A batch reruns its transaction when a sub-request failed this way (core.views).
    response.kinto_retryable = error.retryable
    return response


def exception_handler(exc: BaseException, context: dict[str, Any]) -> HttpResponse:
    """DRF's exception handler: every exception becomes a protocol error body."""
    return error_response(as_kinto_error(exc))
