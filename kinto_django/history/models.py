"""History entries: one per change of a bucket, collection, group or record (spec/07).

An entry is a resource of its bucket (`/buckets/{bid}/history`), so that the engine's list
protocol (filters, sorting, pagination, tombstones, ETags) applies unchanged: `object_id` is
a UUID, `data` the entry, `last_modified` a timestamp of the bucket's `history` scope.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, models
from django.db.models import BooleanField, Expression, F

from kinto_django.buckets.models import Bucket
from kinto_django.core.models import ResourceModel, ResourceQuerySet, StoredJSONField


class SharesPrincipal(Expression):
    """`read_principals` holds one of the given principals: visibility as a condition of the
    query that fetches the page (no per-row check in Python)."""

    def __init__(self, principals: list[str]) -> None:
        super().__init__(output_field=BooleanField())
        self.principals = list(principals)
        self.column: Any = None

    def resolve_expression(self, query: Any = None, *args: Any, **kwargs: Any) -> Expression:
        clone = self.copy()
        clone.column = F("read_principals").resolve_expression(query, *args, **kwargs)
        return clone

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.column)
        if connection.vendor == "postgresql":
            return f"jsonb_exists_any({column}, %s::text[])", [*params, self.principals]
        return (
            f"EXISTS (SELECT 1 FROM json_each({column}) AS p"
            f" WHERE p.value IN (SELECT value FROM json_each(%s)))",
            [*params, json.dumps(self.principals)],
        )

    def get_group_by_cols(self) -> list:
        return []


class HistoryQuerySet(ResourceQuerySet):
    """Queries on entries, besides those of every resource list."""

    def readable_by(self, principals: list[str]) -> HistoryQuerySet:
        """Entries shared with one of the principals (for callers who cannot read the bucket)."""
        return self.filter(SharesPrincipal(principals))

    def of_type(self, resource_name: str, user_id: str | None = None) -> HistoryQuerySet:
        """Live entries about one resource type (and one user's writes, when given)."""
        entries = self.alive().filter(data__resource_name=resource_name)
        return entries if user_id is None else entries.filter(data__user_id=user_id)

    def forget_readers(self, principals: list[str]) -> int:
        """Take principals that stopped existing (deleted accounts) out of every entry's
        `read_principals`, in one statement: whoever later gets the same name reads nothing
        that was shared with the former one. Returns how many entries changed."""
        table = connection.ops.quote_name(self.model._meta.db_table)
        if connection.vendor == "postgresql":
            sql = (
                f"UPDATE {table} SET read_principals = read_principals - %s::text[]"
                f" WHERE read_principals ?| %s::text[]"
            )
            params: list[Any] = [principals, principals]
        else:
            gone = json.dumps(principals)
            sql = (
                f"UPDATE {table} SET read_principals = (SELECT json_group_array(p.value)"
                f" FROM json_each({table}.read_principals) AS p"
                f" WHERE p.value NOT IN (SELECT value FROM json_each(%s)))"
                f" WHERE EXISTS (SELECT 1 FROM json_each({table}.read_principals) AS p"
                f" WHERE p.value IN (SELECT value FROM json_each(%s)))"
            )
            params = [gone, gone]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def insert(self, bucket_pk: int, first_timestamp: int, rows: list[tuple[str, str, str]]):
        """Insert entries `(object_id, data JSON, principals JSON)` of one bucket with the
        timestamps `first_timestamp`, `first_timestamp + 1`… in one statement, however many
        (a list deletion writes one entry per object)."""
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = "object_id, data, last_modified, deleted, bucket_id, read_principals"
        if connection.vendor == "postgresql":
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT r.object_id, r.data::jsonb,"
                f" %s + r.position - 1, false, %s, r.principals::jsonb FROM"
                f" unnest(%s::text[], %s::text[], %s::text[])"
                f" WITH ORDINALITY AS r(object_id, data, principals, position)"
            )
            params: list[Any] = [
                first_timestamp,
                bucket_pk,
                [row[0] for row in rows],
                [row[1] for row in rows],
                [row[2] for row in rows],
            ]
        else:
            # Each row is a JSON array of three strings: the data stays the exact text given.
            sql = (
                f"INSERT INTO {table} ({columns}) SELECT json_extract(value, '$[0]'),"
                f" json_extract(value, '$[1]'), %s + key, 0, %s, json_extract(value, '$[2]')"
                f" FROM json_each(%s)"
            )
            params = [first_timestamp, bucket_pk, json.dumps([list(row) for row in rows])]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


class HistoryEntry(ResourceModel):
    """One change, as the spec shows it: `action`, `resource_name`, `uri`, the ids, `user_id`,
    `date` and `target` (`data` and `permissions` after the change)."""

    bucket = models.ForeignKey(Bucket, on_delete=models.CASCADE, related_name="history")
    # Who may read the entry without reading the bucket: the read and write principals of the
    # bucket, the collection and the object at write time (spec/07). A JSON array.
    read_principals = StoredJSONField(default=list)

    resource_name = "history"
    plural_name = "history"
    parent_field = "bucket"
    # Entries keep no ACL rows (their readers are `read_principals`); the name is declared
    # so that engine-wide listings of ACL names (`/permissions`) stay well-formed.
    acl_names = ("read",)
    keeps_tombstones = False

    objects = HistoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "history entries"
        constraints = [
            models.UniqueConstraint(fields=["bucket", "object_id"], name="kinto_history_id"),
            models.UniqueConstraint(
                fields=["bucket", "last_modified"], name="kinto_history_timestamp"
            ),
        ]
