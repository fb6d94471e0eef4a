"""Lists (spec/03): what the caller may see, filters, sorting, keyset pagination, and the
deletion of a list page."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpResponse

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import actions
from kinto_django.core.api.responses import (
    LIST_EXPOSED,
    expose,
    json_response,
    raw_json_response,
    timestamp_headers,
)
from kinto_django.core.api.viewsets.caching import CacheHeadersMixin
from kinto_django.core.api.viewsets.preconditions import PreconditionsMixin
from kinto_django.core.query import ListQuery, parse_list_query
from kinto_django.core.query.fields import project_fields
from kinto_django.core.query.filters import apply_filters
from kinto_django.core.query.params import querystring_params
from kinto_django.core.query.sorting import after_token, sort_expressions
from kinto_django.core.query.sql import object_json_expression
from kinto_django.core.query.tokens import encode_token, parse_token, server_nonce, token_object
from kinto_django.permissions import service as permissions


class ListMixin(PreconditionsMixin, CacheHeadersMixin):
    """GET/HEAD/DELETE on a list: visibility, filters, sorting, keyset pagination."""

    known_fields: ClassVar[set[str] | None] = None

    def list_query(self) -> ListQuery:
        params = querystring_params(self.request._request.META.get("QUERY_STRING", ""))
        self._params = params
        return parse_list_query(params, self.known_fields)

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

    def effective_limit(self, query: ListQuery) -> int:
        cap = kinto_settings.storage_max_fetch_size
        paginate_by = kinto_settings.paginate_by
        limit = query.limit or paginate_by or cap
        if paginate_by:
            limit = min(limit, paginate_by)
        return min(limit, cap)

    def ordered_page(self, queryset, query: ListQuery):
        queryset = apply_filters(queryset, query.filters)
        if query.token is not None:
            queryset = queryset.filter(after_token(query.sort, query.token["last_object"]))
        return queryset.order_by(*sort_expressions(query.sort))

    def next_page_url(self, query: ListQuery, limit: int, last: dict[str, Any]) -> str:
        offset = (query.token or {}).get("offset", 0) + limit
        token = encode_token(token_object(last, query.sort), offset)
        if self.request.method == "DELETE":
            nonce = parse_token(token)["nonce"]
            cache.set(
                f"kinto:token:{nonce}", True, kinto_settings.pagination_token_validity_seconds
            )
        params = [(k, v) for k, v in self._params if k not in ("_limit", "_token")]
        params += [("_limit", str(limit)), ("_token", token)]
        request = self.request._request
        from kinto_django.core.api.locations import api_root, application_url

        root = api_root(request)
        path = request.path[len(root) :] if request.path.startswith(root) else request.path
        return f"{application_url(request, path)}?{urlencode(params)}"

    def list_headers(self, list_timestamp: int, query: ListQuery) -> dict[str, str]:
        headers = {**timestamp_headers(list_timestamp), **self.cache_headers()}
        if query.deprecated_to:
            from kinto_django.core.api.middleware.headers import alert_header

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
            total = apply_filters(queryset, query.filters).filter(deleted=False).count()
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
                objects = [project_fields(o, query.fields) for o in objects]
            content = jsonutil.dumps({"data": objects})
            return expose(raw_json_response(content, 200, headers), *LIST_EXPOSED)
        # The database renders each object to JSON: no per-row work in Python. The page is
        # chosen first and only its rows are rendered: rendering before the sort and limit
        # would render every matching row (twice the time of a sorted, filtered list).
        window = page.values("row_id")[: limit + 1]
        rows = list(
            self.model.objects.filter(row_id__in=window)
            .order_by(*sort_expressions(query.sort))
            .annotate(body=object_json_expression())
            .values_list("body", flat=True)
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        if has_more:
            last = jsonutil.loads_stored(rows[-1])
            headers["Next-Page"] = self.next_page_url(query, limit, last)
        if query.fields:
            objects = [project_fields(jsonutil.loads_stored(r), query.fields) for r in rows]
            content = jsonutil.dumps({"data": objects})
        else:
            content = ('{"data":[' + ",".join(rows) + "]}").encode()
        return expose(raw_json_response(content, 200, headers), *LIST_EXPOSED)

    def delete_list(self) -> HttpResponse:
        queryset = self.visible_queryset("write")
        query = self.list_query()
        if query.token is not None:
            nonce = query.token.get("nonce", "")
            if not server_nonce(nonce) or not cache.get(f"kinto:token:{nonce}"):
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
