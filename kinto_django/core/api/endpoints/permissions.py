"""`GET`/`HEAD /permissions` (spec/04): every object on which the caller holds a permission.

One entry per object whose own ACLs name one of the caller's principals, per bucket,
collection or group that a `<type>_<perm>_principals` setting covers, and a root entry when
the caller may create buckets (or accounts). Children reachable only by inheritance are not
listed. A page is one SQL statement (`kinto_django.core.query.grants`): the caller's grants (from the permissions service),
expanded to the permissions they imply on the same object and joined with the object tables
to build the URIs, then filtered, sorted and paginated by the database, which renders only
the page to JSON. A caller holding tens of thousands of entries costs one query per page and
no per-entry work in Python.

The resource types are the concrete `ResourceModel`s of the app registry: this module never
imports the apps.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

from kinto_django import errors, jsonutil
from kinto_django.conf import as_bool, kinto_settings
from kinto_django.core import capabilities, timestamps
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.api.pagination import KeysetPagination
from kinto_django.core.api.responses import (
    LIST_EXPOSED,
    TOTALS_EXPOSED,
    expose,
    raw_json_response,
    timestamp_headers,
)
from kinto_django.core.query import ListQuery, parse_list_query
from kinto_django.core.query.fields import project_fields
from kinto_django.core.query.grants import Listing
from kinto_django.core.query.params import querystring_params
from kinto_django.core.query.sorting import Sort
from kinto_django.permissions.authorization import principals_setting
from kinto_django.permissions.identity import EVERYONE

# Fields clients may filter, sort and project on (spec/04: `account_id` is not one of them).
DECLARED_FIELDS = (
    "uri",
    "resource_name",
    "permissions",
    "id",
    "bucket_id",
    "collection_id",
    "group_id",
    "record_id",
)
# Accepted as the reference does, but entries have no timestamp: such filters and sorts
# (`_since`, `_before` included) change nothing.
IGNORED_FIELDS = ("last_modified",)


# The list timestamp of this endpoint: fixed by the first read, as the reference does (the
# listing depends on ACLs and memberships, which have no timestamp of their own).
TIMESTAMP_SCOPE = ("permissions", 0)


def endpoint_enabled() -> bool:
    return kinto_settings.get("experimental_permissions_endpoint", False, as_bool)


capabilities.register(
    capabilities.Feature(
        name="permissions_endpoint",
        description="The permissions endpoint can be used to list all user objects permissions.",
        url="https://kinto.readthedocs.io/en/latest/configuration/settings.html"
        "#activating-the-permissions-endpoint",
        enabled=endpoint_enabled,
    )
)


class PermissionsView(ProtocolView):
    """`GET`/`HEAD /permissions`, when `experimental_permissions_endpoint` is on."""

    allowed_methods = ("GET", "HEAD")
    detail = False
    permission_classes = [principals_setting("permissions_read_principals", [EVERYONE])]
    pagination = KeysetPagination()
    # Off unless enabled: answers 404 and is left out of `/__api__`.
    route_enabled = staticmethod(endpoint_enabled)

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        if not endpoint_enabled():
            raise errors.url_not_found()
        super().initial(request, *args, **kwargs)

    def get(self, request: Any) -> HttpResponse:
        return self.listing(head=False)

    def head(self, request: Any) -> HttpResponse:
        return self.listing(head=True)

    def listing(self, head: bool) -> HttpResponse:
        query, fields = self.list_query()
        listing = Listing(self.identity)
        headers = {
            **timestamp_headers(self.list_timestamp()),
            "Cache-Control": "no-cache, no-store",
        }
        if head:
            return self.count_response(listing, query, headers)
        return self.page_response(listing, query, fields, headers)

    def count_response(
        self, listing: Listing, query: ListQuery, headers: dict[str, str]
    ) -> HttpResponse:
        """HEAD: how many entries match the filters (`Total-Objects`), without a body."""
        where, where_params = listing.where(query)
        with connection.cursor() as cursor:
            cursor.execute(
                f"{listing.sql}SELECT COUNT(*) FROM objects o WHERE {where}",
                [*listing.params, *where_params],
            )
            total = str(cursor.fetchone()[0])
        headers["Total-Objects"] = headers["Total-Records"] = total
        response = HttpResponse(status=200, content_type="application/json")
        for name, value in headers.items():
            response[name] = value
        return expose(response, *LIST_EXPOSED, *TOTALS_EXPOSED)

    def page_response(
        self,
        listing: Listing,
        query: ListQuery,
        fields: list[str] | None,
        headers: dict[str, str],
    ) -> HttpResponse:
        """GET: one page, chosen on the columns; only its entries are rendered to JSON."""
        where, where_params = listing.where(query)
        if query.token is not None:
            after, after_params = listing.after(query.sort, query.token["last_object"])
            where, where_params = f"({where}) AND {after}", [*where_params, *after_params]
        order, order_params = listing.order(query.sort)
        limit = self.pagination.page_size(query)
        sql = (
            f"{listing.sql}SELECT {listing.entry_json()} FROM (SELECT * FROM objects o"
            f" WHERE {where} ORDER BY {order} LIMIT %s) o ORDER BY {order}"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                sql, [*listing.params, *where_params, *order_params, limit + 1, *order_params]
            )
            rows = [row[0] for row in cursor.fetchall()]
        if len(rows) > limit:
            rows = rows[:limit]
            last = jsonutil.loads_stored(rows[-1])
            headers["Next-Page"] = self.pagination.next_link(
                self.request._request, query, self._params, last, path="/permissions"
            )
        if fields:
            entries = [project_fields(jsonutil.loads_stored(r), fields) for r in rows]
            content = jsonutil.dumps({"data": entries})
        else:
            content = ('{"data":[' + ",".join(rows) + "]}").encode()
        return expose(raw_json_response(content, 200, headers), *LIST_EXPOSED)

    def list_query(self) -> tuple[ListQuery, list[str] | None]:
        """The querystring, validated against the declared fields."""
        request: HttpRequest = self.request._request
        self._params = querystring_params(request.META.get("QUERY_STRING", ""))
        known = {*DECLARED_FIELDS, *IGNORED_FIELDS}
        query = parse_list_query(self._params, known)
        query.filters = [f for f in query.filters if f.path[0] not in IGNORED_FIELDS]
        query.sort = [s for s in query.sort if s.path[0] not in IGNORED_FIELDS]
        if not query.sort:
            query.sort = [Sort("uri", descending=True)]
        if not any(s.field == "uri" for s in query.sort):
            # URIs are unique: the last sort key that makes pagination exact.
            query.sort.append(Sort("uri", descending=True))
        fields = query.fields
        if fields is not None:
            unknown = sorted({f for f in fields if f.split(".")[0] not in known})
            if unknown:
                raise errors.invalid(
                    "body", "Invalid _fields parameter", f"Fields {','.join(unknown)} do not exist"
                )
        return query, fields

    @staticmethod
    def list_timestamp() -> int:
        try:
            return timestamps.list_timestamp(*TIMESTAMP_SCOPE)
        except errors.KintoError:
            return 0  # a read-only server that never listed permissions cannot fix one
