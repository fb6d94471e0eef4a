"""The resource protocol (spec/01–03), written once for buckets, collections, groups and records.

`ResourceViewSet` is assembled from small mixins, one concern each; an app's viewset only
names its model (the model describes its resource name, parent and ACL names). Every
handler follows the order of checks of spec/01: method and content negotiation (in
`ProtocolView.initial`) → parent lookup for record writes → authorization → validation →
existence and preconditions → the write, done by `kinto_django.core.actions`.
"""

from __future__ import annotations

import functools
import re
import secrets
import string
from typing import Any, ClassVar
from urllib.parse import urlencode

import jsonpatch
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import actions, chain, timestamps
from kinto_django.core.api.http import (
    JSON_PATCH_TYPE,
    MERGE_PATCH_TYPE,
    ProtocolView,
    expose,
    json_response,
    media_type,
    parse_json_body,
    parse_precondition,
    raw_json_response,
    timestamp_headers,
)
from kinto_django.core.context import ActionContext, BatchState
from kinto_django.core.events import EventCollector
from kinto_django.core.models import ResourceModel
from kinto_django.core.query import querying
from kinto_django.core.query.sql import object_json_expression
from kinto_django.permissions import service as permissions

ID_FIRST = string.ascii_letters + string.digits
ID_REST = ID_FIRST + "_-"
# Principals are stored as Django user and group names, which are at most 150 characters.
MAX_PRINCIPAL_LENGTH = 150
MISSING = object()
NOT_A_MAPPING = "is not a mapping type: Does not implement dict-like functionality."
LIST_EXPOSED = ("Next-Page", "Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
OBJECT_EXPOSED = ("Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")


def generate_id(model: type[ResourceModel]) -> str:
    """Server-side ids: UUID4 for records, 8 characters for containers (spec/01)."""
    if model.resource_name == "record":
        import uuid

        return str(uuid.uuid4())
    return secrets.choice(ID_FIRST) + "".join(secrets.choice(ID_REST) for _ in range(7))


def valid_id(model: type[ResourceModel], object_id: Any) -> bool:
    """The type's id pattern (spec/01) and our length limit (a setting per type)."""
    if not isinstance(object_id, str):
        return False
    limit = kinto_settings.get(model.id_length_setting)
    return len(object_id) <= limit and bool(id_pattern(model.id_pattern).fullmatch(object_id))


@functools.lru_cache
def id_pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def invalid_id() -> errors.KintoError:
    return errors.invalid("path", None, "Invalid object id")


def check_principal(principal: Any, name: str) -> None:
    """A principal in a body: a non-empty string short enough to be a user or group name."""
    if not isinstance(principal, str):
        raise errors.invalid("body", name, f"{principal} is not a string: {{'': ''}}")
    if not principal:
        raise errors.invalid("body", name, "Required")
    if len(principal) > MAX_PRINCIPAL_LENGTH:
        raise errors.invalid(
            "body", name, f"Principal is longer than {MAX_PRINCIPAL_LENGTH} characters"
        )


class Parents:
    """The objects above the addressed one, found with one query (more only on a miss)."""

    def __init__(
        self,
        parent: ResourceModel | None,
        missing: tuple[str, str] | None,
        found: dict[str, ResourceModel],
    ) -> None:
        self.parent = parent
        self.missing = missing
        self.found = found

    def objects(
        self, obj: ResourceModel | None = None, resource_name: str | None = None
    ) -> dict[str, Any]:
        """The ancestry map for permission checks, with the object itself when given."""
        objects: dict[str, Any] = dict(self.found)
        if obj is not None and resource_name is not None:
            objects[resource_name] = obj
        return objects


def load_parents(
    model: type[ResourceModel], kwargs: dict[str, str], target_id: str | None = None
) -> tuple[Parents, ResourceModel | None]:
    """The parents of the addressed object, and with `target_id` the object's row (alive or
    tombstone) too: one query when every level exists."""
    ancestors = chain.parent_models(model)
    ids = [kwargs[f"{level.resource_name}_id"] for level in ancestors]
    if not all(valid_id(level, oid) for level, oid in zip(ancestors, ids, strict=True)):
        return _load_partial(list(ancestors), kwargs), None
    if not ancestors and target_id is None:
        return Parents(None, None, {}), None
    target = model if target_id is not None else None
    loaded = chain.load(ancestors, ids, target, target_id)
    if loaded is None and not ancestors:
        return Parents(None, None, {}), None  # a top-level object that does not exist
    if loaded is None:
        return _load_partial(list(ancestors), kwargs), None
    found, row = loaded
    parents = Parents(found[-1] if found else None, None, {o.resource_name: o for o in found})
    return parents, row


def _load_partial(chain: list[type[ResourceModel]], kwargs: dict[str, str]) -> Parents:
    """On a miss: the ancestors that do exist (they may still grant), and the missing parent.

    The 404 names the direct parent even when a higher level is the one missing (a record
    write in a missing bucket reports its collection), as the reference does.
    """
    found: dict[str, ResourceModel] = {}
    above: ResourceModel | None = None
    direct = chain[-1]
    missing = (kwargs[f"{direct.resource_name}_id"], direct.resource_name)
    for level in chain:
        object_id = kwargs[f"{level.resource_name}_id"]
        obj = None
        if valid_id(level, object_id):
            obj = level.objects.alive().in_parent(above).filter(object_id=object_id).first()
        if obj is None:
            return Parents(None, missing, found)
        found[level.resource_name] = obj
        above = obj
    raise AssertionError("parent chain unexpectedly complete")


class ResourceMixin(ProtocolView):
    """What every resource endpoint knows: its model, its parents and the caller."""

    model: ClassVar[type[ResourceModel]]
    endpoint: ClassVar[str] = "object"  # or "plural"; set by core.urls

    @property
    def allowed_methods(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.endpoint == "plural":
            return ("HEAD", "GET", "POST", "DELETE")
        return ("GET", "HEAD", "PUT", "PATCH", "DELETE")

    def method_enabled(self, method: str) -> bool:
        # Each method has its own switch, HEAD included (as the reference).
        name = f"{self.endpoint}_{self.model.resource_name}_{method.lower()}_enabled"
        return kinto_settings.get(name, True)

    @property
    def resource_name(self) -> str:
        return self.model.resource_name

    def parents(self) -> Parents:
        if not hasattr(self, "_parents"):
            target_id = self.row_to_preload()
            batch = self.batch()
            key = (chain.parent_models(self.model), tuple(sorted(self.kwargs.items())))
            if target_id is None and batch is not None and key in batch.parents:
                self._parents = batch.parents[key]
                return self._parents
            self._parents, row = load_parents(self.model, self.kwargs, target_id)
            if target_id is not None:
                self._row = row
            elif batch is not None:
                batch.parents[key] = self._parents
        return self._parents

    def batch(self) -> BatchState | None:
        """What this request shares with the other sub-requests of its batch, if any."""
        return getattr(self.request._request, "kinto_batch", None)

    def row_to_preload(self) -> str | None:
        """Reads of one object fetch it with its parents (writes lock it separately)."""
        if self.endpoint != "object" or self.request.method in WRITE_METHODS:
            return None
        object_id = self.kwargs.get("id")
        return object_id if valid_id(self.model, object_id) else None

    def context(self) -> ActionContext:
        request = self.request._request
        collector = getattr(request, "kinto_events", None)
        if collector is None:
            collector = request.kinto_events = EventCollector()
        return ActionContext(self.identity, collector)

    def allowed(self, permission: str, obj: ResourceModel | None = None) -> bool:
        objects = self.parents().objects(obj, self.resource_name)
        if obj is None or obj.known_acls is not None:
            return permissions.has_permission(
                self.identity, self.resource_name, permission, objects
            )
        # The object's ACLs come with the check: its response needs them anyway.
        granted, acls = permissions.permission_and_acls(
            self.identity, self.resource_name, permission, objects
        )
        obj.known_acls = acls
        return granted

    def require(self, permission: str, obj: ResourceModel | None = None) -> None:
        if not self.allowed(permission, obj):
            raise self.deny()

    def parent_missing(self) -> errors.KintoError:
        object_id, resource_name = self.parents().missing
        return errors.parent_not_found(object_id, resource_name)

    def check_parent_before_authorization(self) -> None:
        """Record writes look up their collection first: even anonymous callers get 404 (spec/01)."""
        if self.model.resource_name == "record" and self.parents().missing:
            raise self.parent_missing()

    def check_parent(self) -> None:
        if self.parents().missing:
            raise self.parent_missing()

    def base_queryset(self):
        return self.model.objects.in_parent(self.parents().parent)

    def list_timestamp(self) -> int:
        parent = self.parents().parent
        return timestamps.list_timestamp(
            self.resource_name, parent.pk if parent is not None else 0
        )

    def lock_scope(self) -> None:
        """Lock the list this write goes to before reading it (see `timestamps.lock_scope`);
        once per batch, which holds its locks until it commits."""
        timestamps.enter_write()
        parents = self.parents()
        if parents.missing is None:
            batch = self.batch()
            for scope in timestamps.write_scopes(self.resource_name, parents.parent):
                if batch is None or scope not in batch.locked_scopes:
                    timestamps.lock_scope(*scope, create=scope[0] != self.resource_name)
                if batch is not None:
                    batch.locked_scopes.add(scope)

    def finish(self, response: HttpResponse) -> HttpResponse:
        """Send the request's events once its transaction commits; in a batch, tell it
        whether the parents it looked up are still valid for the next sub-requests."""
        request = self.request._request
        collector = getattr(request, "kinto_events", None)
        if collector is not None and not getattr(request, "kinto_in_batch", False):
            collector.send_on_commit()
        request.kinto_parents_unchanged = self.request.method not in WRITE_METHODS or not (
            actions.children_of(self.model)
        )
        return response


class BodyMixin(ResourceMixin):
    """Request bodies: `{"data": {...}, "permissions": {...}}` checked as spec/01 says."""

    def read_envelope(self, allow_list: bool = False) -> Any:
        body = parse_json_body(self.request._request)
        if body is None:
            return {}
        if isinstance(body, list) and not allow_list:
            raise errors.invalid("body", "", f'"{body}" {NOT_A_MAPPING}')
        if isinstance(body, dict):
            unknown = {k: v for k, v in body.items() if k not in ("data", "permissions")}
            if unknown:
                raise errors.invalid("body", "", f'Unrecognized keys in mapping: "{unknown}"')
            problems = [
                {"location": "body", "name": key, "description": f'"{body[key]}" {NOT_A_MAPPING}'}
                for key in ("data", "permissions")
                if key in body and not isinstance(body[key], dict)
            ]
            if problems:
                raise errors.invalid_many(problems)
        return body

    def check_permissions_body(
        self, acls: Any, allow_null: bool = False
    ) -> dict[str, list[str] | None]:
        """The `permissions` of a body: known ACL names, lists of principals.

        A `null` list means "not given": it is dropped, or kept as None for PATCH, where it
        has a meaning (merge-patch removes that ACL).
        """
        if acls is None:
            return {}
        if not isinstance(acls, dict):
            raise errors.invalid("body", "permissions", f'"{acls}" {NOT_A_MAPPING}')
        names = self.model.acl_names
        checked: dict[str, list[str] | None] = {}
        for name, principals in acls.items():
            if name not in names:
                raise errors.invalid(
                    "body", "permissions", f'"{name}" is not one of {", ".join(names)}'
                )
            if principals is None:
                if allow_null:
                    checked[name] = None
                continue
            if not isinstance(principals, list):
                raise errors.invalid(
                    "body", f"permissions.{name}", f'"{principals}" is not iterable'
                )
            for index, principal in enumerate(principals):
                check_principal(principal, f"permissions.{name}.{index}")
            checked[name] = principals
        return checked

    @staticmethod
    def split_data(data: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        """Stored data (without `id`/`last_modified`) and a forced timestamp, if any."""
        forced = data.get("last_modified")
        clean = {k: v for k, v in data.items() if k not in ("id", "last_modified")}
        if isinstance(forced, bool) or not isinstance(forced, int):
            return clean, None
        if not 0 <= forced <= actions.SAFE_TIMESTAMP_MAX:
            raise errors.invalid(
                "body",
                "data.last_modified",
                f"last_modified must be between 0 and {actions.SAFE_TIMESTAMP_MAX}",
            )
        return clean, forced


class PreconditionsMixin(ResourceMixin):
    """ETag preconditions (spec/02): `If-Match` / `If-None-Match` with quoted timestamps or `*`."""

    def read_preconditions(self) -> tuple[int | str | None, int | str | None]:
        return parse_precondition(self.request._request, "If-Match"), parse_precondition(
            self.request._request, "If-None-Match"
        )

    def check_object_preconditions(self, obj: ResourceModel | None, is_read: bool) -> None:
        """The If-Match / If-None-Match matrix of spec/02 for one object (None = absent)."""
        if_match, if_none_match = self.read_preconditions()
        current = obj.last_modified if obj is not None else None
        if is_read and isinstance(if_none_match, int) and current == if_none_match:
            raise NotModified(current)
        if if_none_match == "*" and obj is not None:
            raise self.precondition_failed(obj)
        if if_match is not None:
            if obj is None:
                raise self.list_precondition_failed(self.list_timestamp())
            if if_match != "*" and if_match != current:
                raise self.precondition_failed(obj)

    def check_list_preconditions(self, list_timestamp: int, is_read: bool) -> None:
        if_match, if_none_match = self.read_preconditions()
        if is_read and isinstance(if_none_match, int) and if_none_match == list_timestamp:
            raise NotModified(list_timestamp)
        if if_none_match == "*":
            raise self.list_precondition_failed(list_timestamp)
        if isinstance(if_match, int) and if_match != list_timestamp:
            raise self.list_precondition_failed(list_timestamp)

    def precondition_failed(self, obj: ResourceModel) -> errors.KintoError:
        """412 with `details.existing` only for callers who may read the object (spec/02)."""
        existing = obj.public_data() if self.allowed("read", obj) else None
        error = errors.precondition_failed(existing)
        error.headers.update(timestamp_headers(obj.last_modified))
        return error

    @staticmethod
    def list_precondition_failed(list_timestamp: int) -> errors.KintoError:
        """412 on a list, or on an absent object: no details, the list's timestamp."""
        error = errors.precondition_failed()
        error.headers.update(timestamp_headers(list_timestamp))
        return error


class NotModified(Exception):
    def __init__(self, timestamp: int) -> None:
        self.timestamp = timestamp


class CacheHeadersMixin(ResourceMixin):
    """`Cache-Control`/`Expires` of resource reads (spec/00)."""

    def cache_headers(self) -> dict[str, str]:
        if self.identity.authenticated:
            return {"Cache-Control": "no-cache, no-store"}
        seconds = self.cache_expires()
        if seconds is None:
            return {"Cache-Control": "no-cache, no-store"}
        now = timestamps.now_ms()
        from kinto_django.core.api.http import http_date

        if seconds <= 0:
            return {
                "Cache-Control": "max-age=0, must-revalidate, no-cache, no-store",
                "Expires": http_date(now),
                "Pragma": "no-cache",
            }
        return {"Cache-Control": f"max-age={seconds}", "Expires": http_date(now + seconds * 1000)}

    def cache_expires(self) -> int | None:
        name = self.resource_name
        if name != "record":
            return kinto_settings.get(f"{name}_cache_expires_seconds", None)
        found = self.parents().found
        bucket, collection = found.get("bucket"), found.get("collection")
        seconds = None
        if bucket is not None and collection is not None:
            for key in (
                f"{bucket.object_id}.{collection.object_id}.record_cache_expires_seconds",
                f"{bucket.object_id}_{collection.object_id}_record_cache_expires_seconds",
                f"{bucket.object_id}.record_cache_expires_seconds",
                f"{bucket.object_id}_record_cache_expires_seconds",
                "record_cache_expires_seconds",
            ):
                value = kinto_settings.get(key.lower(), None)
                if value is not None:
                    seconds = value
                    break
            collection_value = collection.data.get("cache_expires")
            if isinstance(collection_value, int) and not isinstance(collection_value, bool):
                seconds = collection_value if seconds is None else max(seconds, collection_value)
        return seconds


class ObjectResponseMixin(ResourceMixin):
    """The envelope `{"data": …, "permissions": …}` with ETag/Last-Modified."""

    def object_response(
        self,
        obj: ResourceModel,
        status: int = 200,
        data: dict[str, Any] | None = None,
        acls: dict[str, list[str]] | None = None,
    ) -> HttpResponse:
        if acls is None:
            acls = obj.known_acls
        if acls is None:
            acls = permissions.object_permissions(obj)
        visible = acls if self.shows_permissions(acls, status) else {}
        body = {"data": obj.public_data() if data is None else data, "permissions": visible}
        return json_response(body, status, timestamp_headers(obj.last_modified))

    def shows_permissions(self, acls: dict[str, list[str]], status: int) -> bool:
        """Whether the caller sees the object's ACLs (spec/04: listed in its own `write`)."""
        return permissions.may_see_permissions(self.identity, acls)


class ListMixin(PreconditionsMixin, CacheHeadersMixin):
    """GET/HEAD/DELETE on a list: visibility, filters, sorting, keyset pagination."""

    known_fields: ClassVar[set[str] | None] = None

    def list_query(self) -> querying.ListQuery:
        params = querying.querystring_params(self.request._request.META.get("QUERY_STRING", ""))
        self._params = params
        return querying.parse_list_query(params, self.known_fields)

    def visible_queryset(self, permission: str):
        """The list as the caller may see (read) or delete (write) it; denies otherwise."""
        queryset = self.base_queryset()
        if self.allowed(permission):
            self.check_parent()
            return queryset
        if self.parents().missing is None:
            restricted = permissions.restrict(queryset.alive(), self.identity, permission)
            if restricted.exists():
                return permissions.restrict(queryset, self.identity, permission)
        if self.allowed("create"):
            self.check_parent()
            return queryset.none()
        raise self.deny()

    def effective_limit(self, query: querying.ListQuery) -> int:
        cap = kinto_settings.storage_max_fetch_size
        paginate_by = kinto_settings.paginate_by
        limit = query.limit or paginate_by or cap
        if paginate_by:
            limit = min(limit, paginate_by)
        return min(limit, cap)

    def ordered_page(self, queryset, query: querying.ListQuery):
        queryset = querying.apply_filters(queryset, query.filters)
        if query.token is not None:
            queryset = queryset.filter(
                querying.after_token(query.sort, query.token["last_object"])
            )
        return queryset.order_by(*querying.sort_expressions(query.sort))

    def next_page_url(self, query: querying.ListQuery, limit: int, last: dict[str, Any]) -> str:
        offset = (query.token or {}).get("offset", 0) + limit
        token = querying.encode_token(querying.token_object(last, query.sort), offset)
        if self.request.method == "DELETE":
            nonce = querying.parse_token(token)["nonce"]
            cache.set(
                f"kinto:token:{nonce}", True, kinto_settings.pagination_token_validity_seconds
            )
        params = [(k, v) for k, v in self._params if k not in ("_limit", "_token")]
        params += [("_limit", str(limit)), ("_token", token)]
        request = self.request._request
        from kinto_django.core.api.http import api_root, application_url

        root = api_root(request)
        path = request.path[len(root) :] if request.path.startswith(root) else request.path
        return f"{application_url(request, path)}?{urlencode(params)}"

    def list_headers(self, list_timestamp: int, query: querying.ListQuery) -> dict[str, str]:
        headers = {**timestamp_headers(list_timestamp), **self.cache_headers()}
        if query.deprecated_to:
            from kinto_django.core.api.middleware import alert_header

            headers["Alert"] = alert_header(
                "soft-eol",
                "_to is now deprecated, you should use _before instead",
                kinto_settings.project_docs,
            )
        return headers

    def list_objects(self, head: bool = False) -> HttpResponse:
        queryset = self.visible_queryset("read")
        query = self.list_query()
        list_timestamp = self.list_timestamp()
        self.check_list_preconditions(list_timestamp, is_read=True)
        headers = self.list_headers(list_timestamp, query)
        if not query.includes_tombstones:
            queryset = queryset.alive()
        if head:
            total = querying.apply_filters(queryset, query.filters).filter(deleted=False).count()
            headers["Total-Objects"] = headers["Total-Records"] = str(total)
            response = HttpResponse(status=200, content_type="application/json", headers=headers)
            return expose(response, *LIST_EXPOSED, "Total-Objects", "Total-Records")
        limit = self.effective_limit(query)
        page = self.ordered_page(queryset, query)
        if not self.model.renders_in_sql:
            objs = list(page[: limit + 1])
            has_more = len(objs) > limit
            objects = [obj.public_data() for obj in objs[:limit]]
            if has_more:
                headers["Next-Page"] = self.next_page_url(query, limit, objs[limit - 1].as_data())
            if query.fields:
                objects = [querying.project_fields(o, query.fields) for o in objects]
            content = jsonutil.dumps({"data": objects})
            return expose(raw_json_response(content, 200, headers), *LIST_EXPOSED)
        # The database renders each object to JSON: no per-row work in Python. The page is
        # chosen first and only its rows are rendered: rendering before the sort and limit
        # would render every matching row (twice the time of a sorted, filtered list).
        window = page.values("row_id")[: limit + 1]
        rows = list(
            self.model.objects.filter(row_id__in=window)
            .order_by(*querying.sort_expressions(query.sort))
            .annotate(body=object_json_expression())
            .values_list("body", flat=True)
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        if has_more:
            last = jsonutil.loads_stored(rows[-1])
            headers["Next-Page"] = self.next_page_url(query, limit, last)
        if query.fields:
            objects = [
                querying.project_fields(jsonutil.loads_stored(r), query.fields) for r in rows
            ]
            content = jsonutil.dumps({"data": objects})
        else:
            content = ('{"data":[' + ",".join(rows) + "]}").encode()
        return expose(raw_json_response(content, 200, headers), *LIST_EXPOSED)

    def delete_list(self) -> HttpResponse:
        queryset = self.visible_queryset("write")
        query = self.list_query()
        if query.token is not None:
            nonce = query.token.get("nonce", "")
            if not querying.server_nonce(nonce) or not cache.get(f"kinto:token:{nonce}"):
                raise errors.invalid(
                    "querystring", None, "_token was already used or has expired."
                )
            cache.delete(f"kinto:token:{nonce}")
        list_timestamp = self.list_timestamp()
        self.check_list_preconditions(list_timestamp, is_read=False)
        limit = self.effective_limit(query)
        # `run` holds the transaction: the page stays locked until the tombstones commit.
        page = list(self.ordered_page(queryset.alive(), query).select_for_update()[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        for obj in page:
            self.attach_parents(obj)
        deleted = actions.delete_objects(self.context(), self.model, self.parents().parent, page)
        headers: dict[str, str] = {}
        if has_more:
            headers["Next-Page"] = self.next_page_url(
                query, limit, page[-1].as_data() | {"id": page[-1].object_id}
            )
        timestamp = max((obj.last_modified for obj in deleted), default=list_timestamp)
        headers.update(timestamp_headers(timestamp))
        return expose(
            json_response({"data": [obj.public_data() for obj in deleted]}, 200, headers),
            *LIST_EXPOSED,
        )

    def attach_parents(self, obj: ResourceModel) -> None:
        parent = self.parents().parent
        if parent is not None and self.model.parent_field:
            setattr(obj, self.model.parent_field, parent)


class ResourceViewSet(BodyMixin, ListMixin, ObjectResponseMixin):
    """Every method of the plural and object endpoints of one resource type."""

    # --- dispatch by endpoint -------------------------------------------------------------

    def get(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.list_objects if self.endpoint == "plural" else self.retrieve)

    def head(self, request: Any, **kwargs: Any) -> HttpResponse:
        if self.endpoint == "plural":
            return self.run(lambda: self.list_objects(head=True))
        return self.run(lambda: self.strip_body(self.retrieve()))

    def post(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.create)

    def put(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.upsert)

    def patch(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.partial_update)

    def delete(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.delete_list if self.endpoint == "plural" else self.destroy)

    def run(self, handler) -> HttpResponse:
        """Run a handler; writes run in one transaction, from the first read to the write,
        so that preconditions and merges are judged on rows locked until commit."""
        try:
            if self.request.method in WRITE_METHODS:
                # In a batch, the sub-request's savepoint already bounds this write.
                with transaction.atomic(savepoint=self.batch() is None):
                    self.lock_scope()
                    response = handler()
            else:
                response = handler()
            return self.finish(response)
        except NotModified as not_modified:
            return HttpResponse(status=304, headers=timestamp_headers(not_modified.timestamp))

    @staticmethod
    def strip_body(response: HttpResponse) -> HttpResponse:
        """HEAD: the GET response's headers, `Content-Length` included, without the body."""
        response["Content-Length"] = str(len(response.content))
        response.content = b""
        return response

    # --- object helpers ---------------------------------------------------------------------

    @property
    def object_id(self) -> str:
        return self.kwargs["id"]

    def stored_row(self, object_id: str) -> ResourceModel | None:
        """The object's row (alive or tombstone), or None."""
        parents = self.parents()
        if parents.missing or not valid_id(self.model, object_id):
            return None
        rows = self.base_queryset().filter(object_id=object_id)
        if self.request.method in WRITE_METHODS:
            rows = rows.select_for_update()
        row = rows.first()
        if row is not None:
            self.attach_parents(row)
        return row

    def live_object(self) -> ResourceModel | None:
        self.parents()  # may load the row too
        if not hasattr(self, "_row"):
            self._row = self.stored_row(self.object_id)
        return self._row if self._row is not None and not self._row.deleted else None

    def require_existing_or_readable_list(self, permission: str) -> ResourceModel | None:
        """Authorize an action on an object that may not exist: absent → 404 for list readers."""
        obj = self.live_object()
        if obj is not None:
            self.require(permission, obj)
        else:
            self.require("read")
        self.check_parent()
        if not valid_id(self.model, self.object_id):
            raise invalid_id()
        return obj

    def not_found(self) -> errors.KintoError:
        return errors.object_not_found(self.object_id, self.resource_name)

    # --- handlers ------------------------------------------------------------------------

    def retrieve(self) -> HttpResponse:
        obj = self.require_existing_or_readable_list("read")
        params = querying.querystring_params(self.request._request.META.get("QUERY_STRING", ""))
        fields = next(([f for f in v.split(",") if f] for k, v in params if k == "_fields"), None)
        self.read_preconditions()
        if obj is None:
            raise self.not_found()
        self.check_object_preconditions(obj, is_read=True)
        # `_fields` narrows `data` only; `permissions` is unaffected (spec/03).
        data = querying.project_fields(obj.public_data(), fields) if fields else None
        response = self.object_response(obj, data=data)
        for name, value in self.cache_headers().items():
            response[name] = value
        return expose(response, *OBJECT_EXPOSED)

    def create(self) -> HttpResponse:
        self.check_parent_before_authorization()
        body = self.read_envelope()
        data = body.get("data") or {}
        posted_id = data.get("id")
        if posted_id is not None and not valid_id(self.model, posted_id):
            raise invalid_id()
        existing = self.stored_row(posted_id) if posted_id is not None else None
        if existing is not None and not existing.deleted:
            self.require("read", existing)
            self.read_preconditions()
            self.check_object_preconditions(existing, is_read=False)
            return self.object_response(existing, status=200)
        self.require("create")
        self.check_parent()
        acls = self.check_permissions_body(body.get("permissions"))
        self.read_preconditions()
        self.check_object_preconditions(None, is_read=False)
        clean, forced = self.split_data(data)
        object_id = posted_id or generate_id(self.model)
        obj = actions.create_object(
            self.context(),
            self.model,
            self.parents().parent,
            object_id,
            clean,
            acls,
            tombstone=existing,
            forced_timestamp=forced,
            list_endpoint=True,
        )
        return self.object_response(obj, status=201)

    def upsert(self) -> HttpResponse:
        self.check_parent_before_authorization()
        obj = self.live_object()
        wants_creation = self.request._request.META.get("HTTP_IF_NONE_MATCH", "").strip() == "*"
        if obj is not None and not wants_creation:
            self.require("write", obj)
        else:
            self.require("create")
        self.check_parent()
        if not valid_id(self.model, self.object_id):
            raise invalid_id()
        self.read_preconditions()
        body = self.read_envelope()
        data = body.get("data")
        if data is not None and "id" in data and data["id"] != self.object_id:
            raise errors.invalid("body", "id", "Object id does not match existing object")
        acls = self.check_permissions_body(body.get("permissions"))
        self.check_object_preconditions(obj, is_read=False)
        clean, forced = self.split_data(data or {})
        ctx = self.context()
        if obj is None:
            created = actions.create_object(
                ctx,
                self.model,
                self.parents().parent,
                self.object_id,
                clean,
                acls,
                tombstone=self._row,
                forced_timestamp=forced,
            )
            return self.object_response(created, status=201)
        replace = self.model.acl_names if "permissions" in body else ()
        _, updated = actions.update_object(
            ctx, obj, clean if data is not None else None, acls, replace, forced_timestamp=forced
        )
        return self.object_response(updated)

    def partial_update(self) -> HttpResponse:
        self.check_parent_before_authorization()
        obj = self.require_existing_or_readable_list("write")
        self.read_preconditions()
        behavior = self.response_behavior()
        content_type = media_type(self.request._request.META.get("CONTENT_TYPE", ""))
        if content_type == JSON_PATCH_TYPE:
            operations = parse_json_body(self.request._request)
            check_json_patch(operations)
            if obj is None:
                raise self.not_found()
            self.check_object_preconditions(obj, is_read=False)
            new_data, acls, replace = self.apply_json_patch(obj, operations)
            # What the client asked the data to become, for `Response-Behavior`.
            changes: dict[str, Any] = new_data
        else:
            body = self.read_envelope()
            if "data" not in body and "permissions" not in body:
                raise errors.invalid("body", "data", "Provide at least one of data or permissions")
            merge = content_type == MERGE_PATCH_TYPE
            acls = self.check_permissions_body(body.get("permissions"), allow_null=True)
            if obj is None:
                raise self.not_found()
            self.check_object_preconditions(obj, is_read=False)
            patch = body.get("data")
            if patch is None:
                new_data, changes = obj.as_data(), {}
            elif merge:
                new_data = merge_patch(obj.as_data(), patch)
                changes = {k: new_data[k] for k in patch if k in new_data}
            else:
                new_data, changes = {**obj.as_data(), **patch}, patch
            if merge:
                replace = list(acls)
                acls = {name: principals or [] for name, principals in acls.items()}
            else:
                replace = [name for name, principals in acls.items() if principals is not None]
        if new_data.get("id", obj.object_id) != obj.object_id:
            raise errors.invalid("body", "id", "Object id does not match existing object")
        clean, forced = self.split_data(new_data)
        old_data = obj.public_data()
        _, updated = actions.update_object(
            self.context(), obj, clean, acls, replace, forced_timestamp=forced
        )
        if behavior == "full":
            return self.object_response(updated)
        data = updated.public_data()
        changed = {
            k: data[k] for k in changes if k in data and old_data.get(k, MISSING) != data[k]
        }
        if behavior == "diff":
            changed = {k: v for k, v in changed.items() if changes[k] != v}
        return json_response({"data": changed}, 200, timestamp_headers(updated.last_modified))

    def response_behavior(self) -> str:
        """`Response-Behavior`: `full` (default), `light` or `diff` (spec/01)."""
        value = self.request._request.META.get("HTTP_RESPONSE_BEHAVIOR", "").strip() or "full"
        if value not in ("full", "light", "diff"):
            raise errors.invalid(
                "header", "Response-Behavior", f'"{value}" is not one of full, light, diff'
            )
        return value

    def apply_json_patch(self, obj: ResourceModel, operations: list[dict[str, Any]]):
        """RFC 6902 on `{"data": …, "permissions": {acl: {principal: principal}}}` (spec/04).

        `read` and `write` are always in the document, so that `/permissions/read/<principal>`
        works on an empty ACL; other ACL names only when not empty. Adding a principal needs
        no `value` (it is taken from the path).
        """
        acls = permissions.object_permissions(obj)
        obj.known_acls = acls  # read in the write's transaction: the action need not re-read
        document_acls = {
            name: {p: p for p in acls.get(name, [])}
            for name in self.model.acl_names
            if acls.get(name) or name in ("read", "write")
        }
        document = {"data": obj.as_data(), "permissions": document_acls}
        prepared = []
        for operation in operations:
            path = operation["path"]
            if (
                operation["op"] in ("add", "replace")
                and "value" not in operation
                and path.startswith(("/permissions/read/", "/permissions/write/"))
            ):
                operation = {**operation, "value": path.rsplit("/", 1)[1]}
            prepared.append(operation)
        try:
            # Bounded: copies could otherwise grow a small body into gigabytes.
            patched = jsonutil.apply_patch(
                document,
                prepared,
                kinto_settings.max_request_body_bytes,
                kinto_settings.max_json_depth,
            )
        except (
            jsonpatch.JsonPatchException,
            jsonpatch.JsonPointerException,
            TypeError,
            KeyError,
            ValueError,
        ) as error:
            raise errors.invalid("body", None, f"JSON Patch operation failed: {error}") from None
        if not isinstance(patched.get("data"), dict):
            raise errors.invalid("body", "data", f'"{patched.get("data")}" {NOT_A_MAPPING}')
        patched_acls = patched.get("permissions")
        if not isinstance(patched_acls, dict):
            raise errors.invalid("body", "permissions", f'"{patched_acls}" {NOT_A_MAPPING}')
        new_acls: dict[str, Any] = {}
        for name, value in patched_acls.items():
            new_acls[name] = list(value) if isinstance(value, dict) else value
        new_acls = self.check_permissions_body(new_acls)
        # An ACL taken out of the document is emptied.
        replace = [
            name
            for name in self.model.acl_names
            if sorted(new_acls.get(name) or []) != acls.get(name, [])
        ]
        return patched["data"], new_acls, replace

    def destroy(self) -> HttpResponse:
        self.check_parent_before_authorization()
        obj = self.require_existing_or_readable_list("write")
        self.read_preconditions()
        params = querying.querystring_params(self.request._request.META.get("QUERY_STRING", ""))
        forced = None
        for key, value in params:
            if key == "last_modified":
                forced = forced_tombstone_timestamp(value)
        if obj is None:
            raise self.not_found()
        self.check_object_preconditions(obj, is_read=False)
        tombstone = actions.delete_object(self.context(), obj, forced_timestamp=forced)
        return json_response(
            {"data": tombstone.public_data()}, 200, timestamp_headers(tombstone.last_modified)
        )


def forced_tombstone_timestamp(raw: str) -> int | None:
    """`DELETE …?last_modified=N`: an integer (quotes allowed) at most 2^53−1; values in the
    past are simply not honoured (spec/02), anything else is a 400."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not re.fullmatch(r"-?[0-9]{1,20}", text) or int(text) > actions.SAFE_TIMESTAMP_MAX:
        raise errors.invalid("querystring", "last_modified", "Invalid value for last_modified")
    value = int(text)
    return value if value >= 0 else None


JSON_PATCH_OPERATIONS = ("test", "add", "remove", "replace", "move", "copy")
JSON_PATCH_KEYS = ("op", "path", "from", "value")


def check_json_patch(operations: Any) -> None:
    """The shape of an RFC 6902 body, every problem reported at once (400)."""
    if not isinstance(operations, list):
        raise errors.invalid("body", "", f'"{operations}" is not iterable')
    problems: list[dict[str, Any]] = []

    def problem(name: str, description: str) -> None:
        problems.append({"location": "body", "name": name, "description": description})

    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            problem(str(index), f'"{operation}" {NOT_A_MAPPING}')
            continue
        unknown = {k: v for k, v in operation.items() if k not in JSON_PATCH_KEYS}
        if unknown:
            problem(str(index), f'Unrecognized keys in mapping: "{unknown}"')
        for key in ("op", "path", "from"):
            value = operation.get(key)
            if value is None or value == "":
                if key != "from":
                    problem(f"{index}.{key}", "Required")
            elif not isinstance(value, str):
                problem(f"{index}.{key}", f"{value} is not a string: {{'{key}': ''}}")
            elif key == "op" and value not in JSON_PATCH_OPERATIONS:
                problem(
                    f"{index}.op", f'"{value}" is not one of {", ".join(JSON_PATCH_OPERATIONS)}'
                )
            elif key != "op" and not value.startswith("/"):
                problem(f"{index}.{key}", "String does not match expected pattern")
    if problems:
        raise errors.invalid_many(problems)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge recursively, null removes a key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
