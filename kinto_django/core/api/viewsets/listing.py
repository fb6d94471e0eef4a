"""Lists (spec/03): what the caller may see, then the list query through DRF's filter backend
and pagination class (`kinto_django.core.api.pagination`), and the deletion of a list page."""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpResponse
from rest_framework.request import Request

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import actions, timestamps
from kinto_django.core.api.pagination import KeysetPagination, ListFilterBackend
from kinto_django.core.api.responses import (
    LIST_EXPOSED,
    TOTALS_EXPOSED,
    expose,
    json_response,
    raw_json_response,
    timestamp_headers,
)
from kinto_django.core.api.viewsets.caching import CacheHeadersMixin
from kinto_django.core.api.viewsets.preconditions import PreconditionsMixin
from kinto_django.core.api.viewsets.resource import write_action
from kinto_django.core.query import ListQuery, parse_list_query
from kinto_django.core.query.fields import project_fields
from kinto_django.core.query.params import querystring_params
from kinto_django.core.query.sql import RowSQL, object_json_expression
from kinto_django.permissions import service as permissions


class ListMixin(PreconditionsMixin, CacheHeadersMixin):
    """`GET`/`HEAD`/`DELETE` on a list: visibility, filters, sorting, keyset pagination."""

    known_fields: ClassVar[set[str] | None] = None
    filter_backends: ClassVar[list] = [ListFilterBackend]
    pagination_class = KeysetPagination

    def row_json(self) -> RowSQL:
        """How the database renders each object of a page (a type may show less of it to
        some callers)."""
        return object_json_expression()

    def list_query(self) -> ListQuery:
        """The querystring, parsed and validated once per request."""
        if not hasattr(self, "_query"):
            self._params = querystring_params(self.request._request.META.get("QUERY_STRING", ""))
            self._query = self.parse_query(self._params)
        return self._query

    def parse_query(self, params: list[tuple[str, str]]) -> ListQuery:
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

    def page_timestamp(self) -> Any:
        """The list's timestamp, as a column of the page's query."""
        parent = self.parents().parent
        return timestamps.list_timestamp_expression(
            self.resource_name, parent.pk if parent is not None else 0
        )

    def next_link(self, last: dict[str, Any]) -> str:
        return self.paginator.next_link(
            self.request._request, self.list_query(), self._params, last
        )

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

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """A page of the list, with the list's timestamp (`ETag`) of the page's own snapshot.

        The timestamp is read first, for the preconditions (a 304 reads no page), and again
        by the page's statement: a change committed between the two reads would otherwise
        be on the page, newer than the `ETag`, and a client polling with `_since=<ETag>`
        would get it twice."""
        queryset = self.visible_queryset("read")
        query = self.list_query()
        list_timestamp = self.list_timestamp()
        self.check_list_preconditions(list_timestamp, is_read=True)
        queryset = self.filter_queryset(queryset)
        limit = self.paginator.page_size(query)
        page = self.paginate_queryset(queryset)
        snapshot = self.page_timestamp()
        if not self.model.renders_in_sql:
            objs = list(page.annotate(list_timestamp=snapshot))
            if objs and objs[0].list_timestamp is not None:
                list_timestamp = max(list_timestamp, objs[0].list_timestamp)
            headers = self.list_headers(list_timestamp, query)
            objects = [obj.public_data() for obj in objs[:limit]]
            if len(objs) > limit:
                headers["Next-Page"] = self.next_link(objs[limit - 1].as_data())
            if query.fields:
                objects = [project_fields(o, query.fields) for o in objects]
            content = jsonutil.dumps({"data": objects})
            return expose(raw_json_response(content, 200, headers), *LIST_EXPOSED)
        # The database renders each object to JSON: no per-row work in Python. The page is
        # chosen first and only its rows are rendered: rendering before the sort and limit
        # would render every matching row (twice the time of a sorted, filtered list).
        page_rows = list(
            self.model.objects.filter(row_id__in=page.values("row_id"))
            .order_by(*self.paginator.ordering(query))
            .annotate(body=self.row_json(), list_timestamp=snapshot)
            .values_list("body", "list_timestamp")
        )
        if page_rows and page_rows[0][1] is not None:
            list_timestamp = max(list_timestamp, page_rows[0][1])
        headers = self.list_headers(list_timestamp, query)
        rows = [body for body, _ in page_rows]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if has_more:
            headers["Next-Page"] = self.next_link(jsonutil.loads_stored(rows[-1]))
        if query.fields:
            objects = [project_fields(jsonutil.loads_stored(r), query.fields) for r in rows]
            content = jsonutil.dumps({"data": objects})
        else:
            content = ('{"data":[' + ",".join(rows) + "]}").encode()
        return expose(raw_json_response(content, 200, headers), *LIST_EXPOSED)

    def list_head(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """`HEAD`: the list's headers and how many objects match (`Total-Objects`)."""
        queryset = self.visible_queryset("read")
        query = self.list_query()
        list_timestamp = self.list_timestamp()
        self.check_list_preconditions(list_timestamp, is_read=True)
        headers = self.list_headers(list_timestamp, query)
        total = self.filter_queryset(queryset).filter(deleted=False).count()
        headers["Total-Objects"] = headers["Total-Records"] = str(total)
        response = HttpResponse(status=200, content_type="application/json", headers=headers)
        return expose(response, *LIST_EXPOSED, *TOTALS_EXPOSED)

    @write_action
    def destroy_list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """`DELETE` on a list: a page of its objects become tombstones."""
        queryset = self.visible_queryset("write")
        query = self.list_query()
        self.paginator.use_token(query)
        list_timestamp = self.list_timestamp()
        self.check_list_preconditions(list_timestamp, is_read=False)
        limit = self.paginator.page_size(query)
        # The write's transaction holds the page locked until the tombstones commit.
        page = list(
            self.paginate_queryset(self.filter_queryset(queryset).alive()).select_for_update()
        )
        has_more = len(page) > limit
        page = page[:limit]
        for obj in page:
            self.attach_parents(obj)
        deleted = actions.delete_objects(self.context(), self.model, self.parents().parent, page)
        headers: dict[str, str] = {}
        if has_more:
            headers["Next-Page"] = self.next_link(page[-1].as_data() | {"id": page[-1].object_id})
        timestamp = max((obj.last_modified for obj in deleted), default=list_timestamp)
        headers.update(timestamp_headers(timestamp))
        return expose(
            json_response({"data": [obj.public_data() for obj in deleted]}, 200, headers),
            *LIST_EXPOSED,
        )
