"""Lists at DRF's seams: the filter backend and the pagination class of spec/03.

Both read the list query the view parsed once (`view.list_query()`), so that every problem of
a querystring is reported in one order whatever part of it is wrong. Pages are chosen by keyset
(`_token` holds the last object's sort values), which stays exact while objects are written;
the view renders the page (the database renders each object to JSON).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import QuerySet
from rest_framework.filters import BaseFilterBackend
from rest_framework.pagination import BasePagination

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core.api.locations import api_root, application_url
from kinto_django.core.query import ListQuery
from kinto_django.core.query.filters import apply_filters
from kinto_django.core.query.sorting import after_token, sort_expressions
from kinto_django.core.query.tokens import encode_token, parse_token, server_nonce, token_object

TOKEN_CACHE_KEY = "kinto:token:{}"


class ListFilterBackend(BaseFilterBackend):
    """The list's filters (`_since` and `_before` included); tombstones are listed only when a
    filter targets `last_modified`."""

    def filter_queryset(self, request: Any, queryset: QuerySet, view: Any) -> QuerySet:
        query = view.list_query()
        if not query.includes_tombstones:
            queryset = queryset.alive()
        return apply_filters(queryset, query.filters)


class KeysetPagination(BasePagination):
    """`_limit` (bounded by `paginate_by` and `storage_max_fetch_size`), `_sort` and `_token`,
    and the `Next-Page` link. Tokens of a `DELETE` are single-use (the cache remembers them
    for `pagination_token_validity_seconds`)."""

    def page_size(self, query: ListQuery) -> int:
        cap = kinto_settings.storage_max_fetch_size
        paginate_by = kinto_settings.paginate_by
        limit = query.limit or paginate_by or cap
        if paginate_by:
            limit = min(limit, paginate_by)
        return min(limit, cap)

    def paginate_queryset(self, queryset: QuerySet, request: Any, view: Any = None) -> QuerySet:
        """The page, sorted, with one object more than the page size when another page
        follows (a lazy queryset: the view chooses what the database renders)."""
        query = view.list_query()
        if query.token is not None:
            queryset = queryset.filter(after_token(query.sort, query.token["last_object"]))
        return queryset.order_by(*self.ordering(query))[: self.page_size(query) + 1]

    @staticmethod
    def ordering(query: ListQuery) -> list:
        return sort_expressions(query.sort)

    def next_link(
        self,
        request: Any,
        query: ListQuery,
        params: list[tuple[str, str]],
        last: dict[str, Any],
        path: str | None = None,
    ) -> str:
        """The `Next-Page` URL after `last`, the last object of a full page; `params` are the
        request's own querystring parameters, kept."""
        limit = self.page_size(query)
        offset = (query.token or {}).get("offset", 0) + limit
        token = encode_token(token_object(last, query.sort), offset)
        if request.method == "DELETE":
            cache.set(
                TOKEN_CACHE_KEY.format(parse_token(token)["nonce"]),
                True,
                kinto_settings.pagination_token_validity_seconds,
            )
        kept = [(k, v) for k, v in params if k not in ("_limit", "_token")]
        kept += [("_limit", str(limit)), ("_token", token)]
        if path is None:
            root = api_root(request)
            path = request.path[len(root) :] if request.path.startswith(root) else request.path
        return f"{application_url(request, path)}?{urlencode(kept)}"

    @staticmethod
    def use_token(query: ListQuery) -> None:
        """A `DELETE` token is valid once, and only if this server issued it."""
        if query.token is None:
            return
        nonce = query.token.get("nonce", "")
        key = TOKEN_CACHE_KEY.format(nonce)
        if not server_nonce(nonce) or not cache.get(key):
            raise errors.invalid("querystring", None, "_token was already used or has expired.")
        cache.delete(key)
