"""`GET`/`HEAD`/`DELETE /buckets/{bid}/history`: the engine's list protocol on entries.

Who sees what (spec/07): readers and writers of the bucket (or of the `history_read` /
`history_write_principals` settings) see every entry; anybody else only the entries shared
with one of their principals when they were written, filtered by the query of the page.
Only writers of the bucket may delete entries.
"""

from __future__ import annotations

from kinto_django import errors
from kinto_django.buckets.models import Bucket
from kinto_django.core.api.viewsets import ListViewSet
from kinto_django.core.query import ListQuery, parse_list_query
from kinto_django.core.query.filters import split_operator
from kinto_django.core.query.params import coerce
from kinto_django.core.query.sql import RowSQL, object_json_hiding
from kinto_django.history.models import HistoryEntry
from kinto_django.history.recording import readers
from kinto_django.permissions import service as permissions
from kinto_django.permissions.identity import Identity

# The fields of an entry: the only ones that filters, sorts and `_fields` may name (spec/03).
ENTRY_FIELDS = {
    "id",
    "last_modified",
    "deleted",
    "action",
    "resource_name",
    "uri",
    "user_id",
    "date",
    "target",
    "bucket_id",
    "collection_id",
    "group_id",
    "record_id",
}
# Id fields hold strings: a numeric filter value on them means that text (`record_id=1`).
STRING_ID_FIELDS = ("bucket_id", "collection_id", "group_id", "record_id", "user_id")


def as_text_if_number(raw: str) -> str:
    """A filter value that would parse as a JSON number, quoted so that it stays a string."""
    value = coerce(raw)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return '"' + raw + '"'
    return raw


def with_string_ids(param: str, raw: str) -> tuple[str, str]:
    """The querystring parameter with numeric values of id fields turned into strings."""
    operator, name = split_operator(param)
    if name not in STRING_ID_FIELDS or operator == "has":
        return param, raw
    if operator in ("in", "exclude"):
        return param, ",".join(as_text_if_number(item) for item in raw.split(","))
    return param, as_text_if_number(raw)


def holds_bucket_permission(identity: Identity, bucket: Bucket | None, permission: str) -> bool:
    """Read: the bucket's `read` or `write` ACL; write: its `write` ACL; or the settings
    `history_<perm>_principals` (as the reference, not the bucket's settings). Holders see
    every entry; others only those shared with them when they were written."""
    if permissions.setting_grants(identity, "history", permission):
        return True
    if bucket is None:
        return False
    acls = permissions.object_permissions(bucket)
    granted = readers(acls) if permission == "read" else set(acls.get("write", ()))
    return not granted.isdisjoint(identity.principals)


class HistoryViewSet(ListViewSet):
    """The list of a bucket's history entries (no object endpoint)."""

    model = HistoryEntry
    known_fields = ENTRY_FIELDS
    # In the reference's order (the `Allow` and CORS headers).
    allowed_methods = ("GET", "HEAD", "DELETE")

    def holds_bucket_permission(self, permission: str) -> bool:
        return holds_bucket_permission(self.identity, self.parents().parent, permission)

    def row_json(self) -> RowSQL:
        """An entry shows its target's ACL only to callers listed in that ACL's `write`, as
        a GET of the object itself would (decided by the query, entry by entry)."""
        return object_json_hiding(
            ["target", "permissions"],
            unless_listed_in=["target", "permissions", "write"],
            principals=list(self.identity.principals),
        )

    def visible_queryset(self, permission: str):
        queryset = self.base_queryset()
        if self.holds_bucket_permission(permission):
            self.check_parent()
            return queryset
        if permission == "read" and self.parents().missing is None:
            shared = queryset.readable_by(list(self.identity.principals))
            if shared.alive().exists():
                return shared
        raise self.deny()

    def parse_query(self, params: list[tuple[str, str]]) -> ListQuery:
        """The engine's parsing against the entry fields; ids compared as text, and
        `_fields` limited to the entry fields too (as the reference)."""
        query = parse_list_query(
            [with_string_ids(param, raw) for param, raw in params], self.known_fields
        )
        unknown = sorted({f for f in query.fields or () if f.split(".")[0] not in ENTRY_FIELDS})
        if unknown:
            raise errors.invalid(
                "body", "Invalid _fields parameter", f"Fields {','.join(unknown)} do not exist"
            )
        return query
