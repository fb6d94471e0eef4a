"""What a live client may subscribe to, checked and replayed by the engine itself.

A subscription names a path of the HTTP API (`/buckets/shop/collections/orders/records`) and,
for lists, the list filters of a GET on it. The subscription is authorized, and its filters
validated, by running that GET in-process with the client's identity, so every status and
error body is the HTTP API's own. Changes after a `since` timestamp are replayed with the same
engine query a syncing client sends (`?_since=…&_sort=last_modified`, tombstones included),
page by page.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.urls import Resolver404, resolve

from kinto_django import errors, jsonutil
from kinto_django.core.api.locations import mounted_api_root
from kinto_django.core.api.subrequests import dispatch
from kinto_django.core.context import RequestState
from kinto_django.core.query import parse_list_query
from kinto_django.core.query.filters import Filter
from kinto_django.core.query.params import querystring_params
from kinto_django.notifications.live import groups
from kinto_django.permissions.service import Identity

# Subscribable routes (URL names of the resource routes) → what they follow.
LISTS = {
    "bucket-plural": "bucket",
    "collection-plural": "collection",
    "group-plural": "group",
    "record-plural": "record",
}
TREES = {"bucket-object": "bucket", "collection-object": "collection"}
# Directives of a list request that mean nothing for a stream of changes.
IGNORED_DIRECTIVES = ("_sort", "_limit", "_token", "_since", "_before", "_to")
# Headers of an engine error that an event-stream error response repeats.
KEPT_HEADERS = ("WWW-Authenticate", "Retry-After")


@dataclass
class Target:
    """A validated subscription target: which changes it follows and how they are filtered."""

    resource: str  # the real path, e.g. /buckets/shop/collections/orders/records
    route: str  # URL name, e.g. record-plural
    bucket_id: str | None
    collection_id: str | None
    params: list[tuple[str, str]] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    fields: list[str] | None = None

    @property
    def is_list(self) -> bool:
        return self.route in LISTS

    @property
    def group(self) -> str:
        if self.route == "bucket-plural":
            return groups.BUCKETS
        if self.route in ("bucket-object", "collection-plural", "group-plural"):
            return groups.bucket_group(self.bucket_id)
        return groups.collection_group(self.bucket_id, self.collection_id)

    def wants(self, resource_name: str, object_id: str) -> bool:
        """Whether a change of this object belongs to the subscription (its group already
        narrowed the bucket or collection)."""
        if self.route in LISTS:
            return LISTS[self.route] == resource_name
        own = TREES[self.route]
        if resource_name == own:
            return object_id == (self.bucket_id if own == "bucket" else self.collection_id)
        if own == "bucket":
            return resource_name in ("collection", "group", "record")
        return resource_name == "record"


def engine_request(identity: Identity, path: str, params: list[tuple[str, str]]) -> WSGIRequest:
    """A GET of the API, run in-process as `identity` (its principals are not recomputed)."""
    root = mounted_api_root()
    environ = {
        "REQUEST_METHOD": "GET",
        # WSGI strings are bytes decoded as latin-1.
        "PATH_INFO": (root + path).encode().decode("latin-1"),
        "QUERY_STRING": urlencode(params),
        "SERVER_NAME": "live",
        "SERVER_PORT": "80",
        "HTTP_ACCEPT": "application/json",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "CONTENT_LENGTH": "0",
    }
    request = WSGIRequest(environ)
    request.kinto = RequestState(identities={"": identity}, api_root=root)
    # The `Next-Page` URLs this request may build are not used: no need for a real host,
    # and none that `ALLOWED_HOSTS` would refuse.
    request.get_host = lambda: "live.invalid"  # type: ignore[method-assign]
    return request


def engine_get(identity: Identity, path: str, params: list[tuple[str, str]]) -> HttpResponse:
    return dispatch(engine_request(identity, path, params))


def raise_for(response: HttpResponse) -> None:
    """Turn an error response of the engine back into the error it reported."""
    if response.status_code < 400:
        return
    body = jsonutil.loads_stored(response.content)
    raise errors.KintoError(
        body["code"],
        body["errno"],
        body.get("message"),
        details=body.get("details"),
        error=body.get("error"),
        headers={name: response[name] for name in KEPT_HEADERS if name in response},
    )


def _params(raw: Any, location: str) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise errors.invalid(location, "filters", "Should be an object of query parameters")
    params = []
    for key, value in raw.items():
        if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
            value = jsonutil.dumps(value).decode()
        params.append((str(key), str(value)))
    return params


def parse_target(
    identity: Identity, resource: Any, filters: Any = None, location: str = "body"
) -> Target:
    """Check a subscription request: a subscribable path of the API, its filters parsed as a
    list request's (400 on bad input). The personal `default` bucket is resolved here."""
    if not isinstance(resource, str) or not resource.startswith("/"):
        raise errors.invalid(location, "resource", "Should be an API path such as /buckets/b")
    parts = urlsplit(resource)
    path = unquote(parts.path)
    root = mounted_api_root()
    if path.startswith(root + "/"):
        path = path[len(root) :]
    params = querystring_params(parts.query) + _params(filters, location)
    try:
        match = resolve(root + path)
        aliased = getattr(getattr(match.func, "view_class", None), "aliased_path", None)
        if aliased is not None:
            real = aliased(engine_request(identity, path, []), root + path)
            if real is None:
                raise errors.unauthorized()
            path = real[len(root) :]
            match = resolve(real)
    except Resolver404:
        raise errors.url_not_found() from None
    route = match.url_name or ""
    if not route.endswith(("-plural", "-object")):
        raise errors.url_not_found()  # not a resource (the JSON 404, a utility endpoint)
    if route not in LISTS and route not in TREES:
        raise errors.invalid(
            location,
            "resource",
            "Subscriptions follow /buckets, a bucket, its collections or groups lists, "
            "a collection or its records list",
        )
    kwargs = match.kwargs
    target = Target(
        resource=path,
        route=route,
        bucket_id=kwargs.get("bucket_id")
        or (kwargs.get("id") if route == "bucket-object" else None),
        collection_id=kwargs.get("collection_id")
        or (kwargs.get("id") if route == "collection-object" else None),
    )
    if route in TREES:
        if params:
            raise errors.invalid(location, "filters", "Only list subscriptions take filters")
        return target
    kept = [(k, v) for k, v in params if k not in IGNORED_DIRECTIVES]
    query = parse_list_query(kept)
    target.params = kept
    target.filters = [f for f in query.filters]
    target.fields = query.fields
    return target


def authorize(identity: Identity, target: Target) -> int | None:
    """Read the target as the caller (401, 403, 404 and filter errors are the API's); returns
    the list timestamp of a list target, a safe `since` for a later resume."""
    params = [*target.params, ("_limit", "1")] if target.is_list else []
    response = engine_get(identity, target.resource, params)
    raise_for(response)
    etag = response.get("ETag", "").strip('"')
    return int(etag) if target.is_list and etag.isdigit() else None


def replay_page(identity: Identity, target: Target, since: int, limit: int) -> list[dict]:
    """The next `limit` objects of the list changed after `since`, oldest first, tombstones
    included, as the caller may see them (the list's own permission rules)."""
    params = [("_since", str(since)), ("_sort", "last_modified"), ("_limit", str(limit))]
    response = engine_get(identity, target.resource, params)
    raise_for(response)
    return jsonutil.loads_stored(response.content)["data"]
