"""Utility endpoints (spec/06): the root "hello" view, health checks, version, batch,
redirects and the JSON 404 for unknown URLs."""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from copy import deepcopy
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import timestamps
from kinto_django.core.api import capabilities
from kinto_django.core.api.http import (
    JSON_TYPE,
    ProtocolView,
    absolute_url,
    api_root,
    application_url,
    http_date,
    json_response,
    parse_json_body,
)
from kinto_django.core.api.middleware import add_subresponse_headers
from kinto_django.core.api.version import package_info, project_version
from kinto_django.core.context import BatchState
from kinto_django.core.events import EventCollector
from kinto_django.core.timestamps import now_ms

BATCH_ATTEMPTS = 3
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
BATCH_METHODS = ("GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH")
# Schema order of a batch request: validation errors are reported in this order.
BATCH_REQUEST_KEYS = ("method", "path", "headers", "body")
MAX_REDIRECTS = 3


class UtilityView(ProtocolView):
    """Base of the utility endpoints: they answer JSON whatever the `Accept` header says."""

    negotiate_accept = False


class RootView(UtilityView):
    """`GET /`: server information, capabilities and the current user."""

    allowed_methods = ("GET", "HEAD")

    def get(self, request: Any) -> HttpResponse:
        identity = self.identity
        body: dict[str, Any] = {
            "project_name": kinto_settings.project_name,
            "project_version": project_version(),
            "http_api_version": kinto_settings.http_api_version,
            "project_docs": kinto_settings.project_docs,
            "url": application_url(request._request, "/"),
            "settings": {
                "batch_max_requests": kinto_settings.batch_max_requests,
                "readonly": kinto_settings.readonly,
                "explicit_permissions": kinto_settings.explicit_permissions,
                **capabilities.public_settings(),
            },
            "capabilities": capabilities.enabled(),
            "config": config_file_info(),
        }
        if kinto_settings.eos:
            body["eos"] = kinto_settings.eos
        if identity.authenticated:
            body["user"] = {
                "id": identity.user_id,
                "principals": list(identity.principals),
                **capabilities.user_extras(identity),
            }
        response = json_response(body)
        if kinto_settings.readonly:
            seconds = kinto_settings.root_cache_expires_seconds
            response["Cache-Control"] = f"max-age={seconds}"
            response["Expires"] = http_date(now_ms() + seconds * 1000)
        return response


def config_file_info() -> dict[str, str] | None:
    """Which configuration file the server runs with (`KINTO_INI`), so operators can tell
    whether a deployment picked up a change; None without a file."""
    path = getattr(settings, "KINTO_CONFIG_FILE", None)
    if not path:
        return None
    try:
        content = Path(path).read_bytes()
        modified = os.stat(path).st_mtime
    except OSError:
        return None
    return {
        "path": str(path),
        "hash": hashlib.sha256(content).hexdigest(),
        "modified": datetime.datetime.fromtimestamp(modified, datetime.UTC).isoformat(),
    }


# --- health checks ------------------------------------------------------------------------


def check_storage() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1


def check_permission_store() -> bool:
    from django.contrib.auth.models import Group

    Group.objects.exists()
    return True


def check_cache() -> bool:
    key = f"kinto:heartbeat:{os.getpid()}"
    cache.set(key, "ok", 10)
    return cache.get(key) == "ok"


def guarded(check: Callable[[], Any]) -> bool | None:
    """Run one check in a worker thread: any error means unhealthy; `None` means "no opinion"."""
    try:
        result = check()
        healthy = None if result is None else bool(result)
    except Exception:  # noqa: BLE001 - any failure means "unhealthy"
        healthy = False
    try:
        connection.close()  # the worker thread's own connection
    except Exception:  # noqa: BLE001 - a broken connection is already reported above
        pass
    return healthy


def run_checks(checks: dict[str, Callable[[], Any]], timeout: float) -> dict[str, bool | None]:
    """Run the checks concurrently; one that has not answered within `timeout` seconds is
    reported as failed without waiting for it (a hung backend must not hang the heartbeat)."""
    pool = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="heartbeat")
    try:
        futures = {name: pool.submit(guarded, check) for name, check in checks.items()}
        done, _ = wait_futures(futures.values(), timeout=timeout)
        return {
            name: future.result() if future in done else False for name, future in futures.items()
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def heartbeat_checks() -> dict[str, Callable[[], Any]]:
    return {
        "storage": check_storage,
        "permission": check_permission_store,
        "cache": check_cache,
        **capabilities.heartbeats(),
    }


class HeartbeatView(UtilityView):
    """`GET /__heartbeat__`: 503 if a backend fails or does not answer within the timeout."""

    def get(self, request: Any) -> HttpResponse:
        results = run_checks(heartbeat_checks(), kinto_settings.heartbeat_timeout_seconds)
        status = 200 if all(value is not False for value in results.values()) else 503
        return json_response(results, status)


class LBHeartbeatView(UtilityView):
    """`GET /__lbheartbeat__`: the process is up (no backend checked)."""

    def get(self, request: Any) -> HttpResponse:
        return json_response({})


class VersionView(UtilityView):
    """`GET /__version__`: `version.json` if present (written by a deployment pipeline),
    else the installed package's metadata."""

    def get(self, request: Any) -> HttpResponse:
        path = Path(kinto_settings.version_json_path)
        if not path.is_absolute() and hasattr(settings, "BASE_DIR"):
            path = Path(settings.BASE_DIR) / path
        if path.is_file():
            try:
                return json_response(jsonutil.loads(path.read_bytes()))
            except ValueError:
                pass
        package = package_info()
        return json_response(
            {
                "name": package["name"],
                "version": project_version(),
                "source": package["source"] or kinto_settings.project_docs,
                "commit": os.environ.get("KINTO_COMMIT", "unknown"),
            }
        )


class ContributeView(UtilityView):
    """`GET /contribute.json`: open-source project metadata (the contribute.json format)."""

    def get(self, request: Any) -> HttpResponse:
        return json_response(
            {
                "name": kinto_settings.project_name,
                "description": (
                    "A JSON storage service with synchronisation and sharing, "
                    "speaking the Kinto HTTP API v1."
                ),
                "repository": {"license": "Apache License (2.0)"},
                "participate": {"docs": kinto_settings.project_docs},
                "bugs": {"report": kinto_settings.error_info_link},
                "keywords": ["JSON", "Python", "Django", "REST", "API", "Database"],
            }
        )


# --- batch --------------------------------------------------------------------------------


def not_a_mapping(value: Any) -> str:
    return f'"{value}" is not a mapping type: Does not implement dict-like functionality.'


def merge_defaults(request: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Recursively fill `request` with `defaults`; the request's own values win."""
    for key, value in defaults.items():
        if isinstance(value, dict):
            own = request.setdefault(key, {})
            if isinstance(own, dict):
                merge_defaults(own, value)
        else:
            request.setdefault(key, deepcopy(value))


def batch_request_errors(item: Any, name: str, path_required: bool) -> list[dict[str, Any]]:
    """Validation errors of one batch request (or of `defaults`), all of them, in schema order."""

    def error(field: str, description: str) -> dict[str, Any]:
        return {"location": "body", "name": field, "description": description}

    if not isinstance(item, dict):
        return [error(name, not_a_mapping(item))]
    unknown = {k: v for k, v in item.items() if k not in BATCH_REQUEST_KEYS}
    if unknown:
        return [error(name, f'Unrecognized keys in mapping: "{unknown}"')]
    found = []
    method = item.get("method")
    if method not in (None, ""):
        if not isinstance(method, str):
            found.append(error(f"{name}.method", f"{method} is not a string: {{'method': ''}}"))
        elif method not in BATCH_METHODS:
            choices = ", ".join(BATCH_METHODS)
            found.append(error(f"{name}.method", f'"{method}" is not one of {choices}'))
    path = item.get("path")
    if path in (None, ""):
        if path_required:
            found.append(error(f"{name}.path", "Required"))
    elif not isinstance(path, str):
        found.append(error(f"{name}.path", f"{path} is not a string: {{'path': ''}}"))
    elif not path.startswith("/"):
        found.append(error(f"{name}.path", "String does not match expected pattern"))
    if "headers" in item:
        headers = item["headers"]
        if not isinstance(headers, dict):
            found.append(error(f"{name}.headers", not_a_mapping(headers)))
        elif not all(isinstance(value, str) for value in headers.values()):
            found.append(error(f"{name}.headers", f"{headers} contains non string value"))
    if "body" in item and not isinstance(item["body"], dict):
        found.append(error(f"{name}.body", not_a_mapping(item["body"])))
    return found


def parse_batch(body: Any) -> list[dict[str, Any]]:
    """The sub-requests of a batch body, with `defaults` merged in (400 when invalid)."""
    if not isinstance(body, dict):
        raise errors.invalid("body", "", not_a_mapping(body))
    unknown = {k: v for k, v in body.items() if k not in ("defaults", "requests")}
    if unknown:
        raise errors.invalid("body", "", f'Unrecognized keys in mapping: "{unknown}"')
    requests = body.get("requests")
    defaults = body.get("defaults")
    if isinstance(defaults, dict) and isinstance(requests, list):
        for item in requests:
            if isinstance(item, dict):
                merge_defaults(item, defaults)
    found = []
    if "defaults" in body:
        found += batch_request_errors(defaults, "defaults", path_required=False)
    if "requests" not in body:
        found.append({"location": "body", "name": "requests", "description": "Required"})
    elif not isinstance(requests, list):
        found.append(
            {
                "location": "body",
                "name": "requests",
                "description": f'"{requests}" is not iterable',
            }
        )
    else:
        for index, item in enumerate(requests):
            found += batch_request_errors(item, f"requests.{index}", path_required=True)
    if found:
        raise errors.invalid_many(found)
    limit = kinto_settings.batch_max_requests
    if limit and len(requests) > limit:
        raise errors.invalid("body", "requests", f"Number of requests is limited to {limit}")
    if any("/batch" in item["path"] for item in requests):
        raise errors.invalid("body", "requests", "Recursive call on /batch endpoint is forbidden.")
    return requests


class BatchAborted(Exception):
    """A sub-request ended in a server error: the whole batch is rolled back."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


class BatchView(UtilityView):
    """`POST /batch`: sub-requests in one transaction, each authorized on its own.

    Each sub-request runs in its own savepoint, so that a failed one (4xx, 409) leaves no
    partial write while the earlier ones stay committed and truthful; a 5xx aborts the lot.
    """

    allowed_methods = ("POST",)

    def post(self, request: Any) -> HttpResponse:
        outer = request._request
        subrequests = parse_batch(parse_json_body(outer))
        root = api_root(outer)
        # Sub-requests share the caller's principals, computed once (spec/04).
        if not hasattr(outer, "kinto_identities"):
            outer.kinto_identities = {}
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            collector = EventCollector()
            outer.kinto_events = collector
            outer.kinto_batch = BatchState()
            responses = []
            try:
                with transaction.atomic():
                    timestamps.lock_scopes_in_order(written_lists(subrequests, root, outer))
                    for sub in subrequests:
                        responses.append(run_subrequest(outer, sub, root))
            except BatchAborted as aborted:
                collector.discard()
                # Batches writing several lists may deadlock with one another; nothing was
                # committed, so the loser runs again instead of failing with a 503.
                if (
                    getattr(aborted.response, "kinto_retryable", False)
                    and attempt < BATCH_ATTEMPTS
                ):
                    continue
                return aborted.response
            break
        collector.send_on_commit()
        return json_response({"responses": responses})


def written_lists(subrequests: list[dict[str, Any]], root: str, request: HttpRequest) -> list[str]:
    """The list paths (scopes) that the batch's write sub-requests address.

    An alias path (the personal `default` bucket) counts as the path it stands for, so that
    batches naming one list in either way lock the same key.
    """
    lists = []
    for sub in subrequests:
        if (sub.get("method") or "GET") not in WRITE_METHODS:
            continue
        path = urlsplit(sub["path"]).path
        path = path if path.startswith(root) else root + path
        try:
            match = resolve(unquote(path))
            aliased_path = getattr(getattr(match.func, "view_class", None), "aliased_path", None)
            if aliased_path is not None:
                path = aliased_path(request, unquote(path))
                if path is None:
                    continue
                match = resolve(path)
        except (Resolver404, ValueError):
            continue
        if (match.url_name or "").endswith("-object"):
            path = path.rsplit("/", 1)[0]
        lists.append(path.rstrip("/"))
    return lists


def run_subrequest(outer: HttpRequest, sub: dict[str, Any], root: str) -> dict[str, Any]:
    """Run one sub-request in a savepoint and describe its response (spec/06)."""
    path = sub["path"]
    if not path.startswith(root):
        path = root + path
    method = sub.get("method") or "GET"
    body = sub.get("body") or None  # an empty body is no body
    events = outer.kinto_events
    snapshot = {key: len(event.impacted_objects) for key, event in events.events.items()}
    savepoint = transaction.savepoint()
    target = path
    for _ in range(MAX_REDIRECTS + 1):
        request = build_subrequest(outer, method, target, sub.get("headers") or {}, body)
        response = add_subresponse_headers(request, dispatch(request))
        location = response.get("Location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            break
        redirected = urlsplit(location)
        target = redirected.path + (f"?{redirected.query}" if redirected.query else "")
    if response.status_code >= 400:
        # A write that failed inside its transaction block marked it for rollback; rolling
        # back to the sub-request's savepoint is exactly that rollback.
        transaction.set_rollback(False)
        transaction.savepoint_rollback(savepoint)
        outer.kinto_batch.forget()
        if response.status_code >= 500:
            raise BatchAborted(response)
        restore_events(events, snapshot)
    else:
        transaction.savepoint_commit(savepoint)
        if not getattr(request, "kinto_parents_unchanged", False):
            outer.kinto_batch.forget()
    return {
        "path": unquote(urlsplit(path).path),
        "status": response.status_code,
        "headers": dict(response.items()),
        "body": response_body(response, method),
    }


def restore_events(events: EventCollector, snapshot: dict[Any, int]) -> None:
    """Forget the events of a rolled-back sub-request."""
    for key in list(events.events):
        if key not in snapshot:
            del events.events[key]
        else:
            del events.events[key].impacted_objects[snapshot[key] :]


def response_body(response: HttpResponse, method: str) -> Any:
    if method == "HEAD" or not response.content:
        return ""
    try:
        return jsonutil.loads_stored(response.content)
    except ValueError:
        return response.content.decode("utf-8", "replace")


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
        }
    )
    request = WSGIRequest(environ)
    request.kinto_identities = getattr(outer, "kinto_identities", {})
    request.kinto_events = outer.kinto_events
    request.kinto_in_batch = True
    request.kinto_batch = outer.kinto_batch
    request.kinto_api_root = api_root(outer)
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


# --- redirects and unknown URLs -----------------------------------------------------------


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
