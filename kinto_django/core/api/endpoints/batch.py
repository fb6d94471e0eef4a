"""`POST /batch` (spec/06): sub-requests in one transaction, each in its own savepoint and
authorized on its own."""

from __future__ import annotations

import time
from copy import deepcopy
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import timestamps
from kinto_django.core.api.endpoints.utility import UtilityView
from kinto_django.core.api.locations import api_root
from kinto_django.core.api.middleware.headers import add_subresponse_headers
from kinto_django.core.api.responses import json_response
from kinto_django.core.api.subrequests import build_subrequest, dispatch
from kinto_django.core.context import BatchState, request_state
from kinto_django.core.events import EventCollector
from kinto_django.core.observability.metrics import database_time
from kinto_django.core.observability.requests import observe, request_id

BATCH_ATTEMPTS = 3
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
BATCH_METHODS = ("GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH")
# Schema order of a batch request: validation errors are reported in this order.
BATCH_REQUEST_KEYS = ("method", "path", "headers", "body")
MAX_REDIRECTS = 3


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


RECURSIVE = "Recursive call on /batch endpoint is forbidden."


# Endpoints that have nothing to do in a batch, and whose work (the heartbeat waits up to
# `heartbeat_timeout_seconds` for each backend) would be done while the batch holds locks.
OUT_OF_BATCH = {"heartbeat", "lbheartbeat", "version", "contribute", "openapi", "metrics", "flush"}


def route_name(path: str, root: str) -> str | None:
    """The API route a sub-request's path reaches once decoded as its request will be
    (`/bat%63h` is `/batch`)."""
    path = path if path.startswith(root) else root + path
    decoded = unquote_to_bytes(urlsplit(path).path).decode("utf-8", "replace")
    try:
        match = resolve(decoded)
    except Resolver404:
        return None
    return match.url_name if "kinto" in match.namespaces else None


def parse_batch(body: Any, root: str) -> list[dict[str, Any]]:
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
    routes = [route_name(item["path"], root) for item in requests]
    if "batch" in routes or any("/batch" in item["path"] for item in requests):
        raise errors.invalid("body", "requests", RECURSIVE)
    utility = sorted({route for route in routes if route in OUT_OF_BATCH})
    if utility:
        raise errors.invalid(
            "body", "requests", f"These endpoints cannot run in a batch: {', '.join(utility)}"
        )
    return requests


class BatchAborted(Exception):
    """A sub-request ended in a server error: the whole batch is rolled back."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


class BatchView(UtilityView):
    """`POST /batch`: sub-requests each authorized on their own; a batch that writes runs in
    one transaction, bounded in time (`batch_max_lock_seconds`).

    Each sub-request runs in its own savepoint, so that a failed one (4xx, 409) leaves no
    partial write while the earlier ones stay committed and truthful; a 5xx aborts the lot.
    """

    allowed_methods = ("POST",)

    def post(self, request: Any) -> HttpResponse:
        outer = request._request
        # Sub-requests share the caller's principals, computed once (spec/04), and the
        # batch's events and parents.
        state = request_state(outer)
        if state.in_batch:
            # However the path was spelt (encoded, redirected, aliased): a batch never runs
            # inside a batch, where its work would multiply.
            raise errors.invalid("body", "requests", RECURSIVE)
        root = api_root(outer)
        subrequests = parse_batch(self.body(), root)
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            collector = EventCollector()
            state.events = collector
            state.batch = BatchState(budget=kinto_settings.batch_max_subrequests or None)
            responses = []
            try:
                if not any(writes(sub) for sub in subrequests):
                    # Reads only: no transaction, so no lock held while they run (SQLite's
                    # write lock is global; a transaction there begins by taking it).
                    for sub in subrequests:
                        responses.append(run_subrequest(outer, sub, root))
                else:
                    with transaction.atomic():
                        locked_at = time.monotonic()
                        timestamps.lock_scopes_in_order(written_lists(subrequests, root, outer))
                        for sub in subrequests:
                            check_lock_time(locked_at)
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


def writes(sub: dict[str, Any]) -> bool:
    return (sub.get("method") or "GET") in WRITE_METHODS


def check_lock_time(locked_at: float) -> None:
    """A batch that writes holds its locks (on SQLite, the database's one write lock) until it
    commits: one that has held them longer than `batch_max_lock_seconds` stops, rolled back,
    before running another sub-request, so that other writers wait a bounded time."""
    limit = kinto_settings.batch_max_lock_seconds
    if limit and time.monotonic() - locked_at > limit:
        raise BatchAborted(
            errors.error_response(
                errors.service_unavailable(
                    f"This batch held its locks longer than {limit:g} seconds: split it.",
                    cause=errors.CAUSE.BATCH_LOCKS,
                )
            )
        )


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
    state = request_state(outer)
    events = state.events
    snapshot = {key: len(event.impacted_objects) for key, event in events.events.items()}
    savepoint = transaction.savepoint()
    target = path
    for _ in range(MAX_REDIRECTS + 1):
        state.batch.spend()
        request = build_subrequest(outer, method, target, sub.get("headers") or {}, body)
        started = time.perf_counter()
        with database_time() as database:
            response = add_subresponse_headers(request, dispatch(request))
        observe(
            request,
            getattr(request, "resolver_match", None),
            response,
            time.perf_counter() - started,
            database,
            request_id(request),
            subrequest_of="batch",
        )
        location = response.get("Location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            break
        redirected = urlsplit(location)
        target = redirected.path + (f"?{redirected.query}" if redirected.query else "")
    if response.status_code >= 400:
        # A write that failed inside its transaction block marked it for rollback; rolling
        # back to the sub-request's savepoint is exactly that rollback (a batch of reads
        # runs outside any transaction: nothing to roll back).
        if transaction.get_connection().in_atomic_block:
            transaction.set_rollback(False)
            transaction.savepoint_rollback(savepoint)
        state.batch.forget()
        if response.status_code >= 500:
            raise BatchAborted(response)
        restore_events(events, snapshot)
    else:
        transaction.savepoint_commit(savepoint)
        if not request_state(request).parents_unchanged:
            state.batch.forget()
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
