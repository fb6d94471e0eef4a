"""Backups: a portable, versioned JSON Lines snapshot of the stored objects, and its reader.

A backup (docs/backup-format.md) is a header line, then list timestamps and objects kind by
kind (parents before children, each list contiguous and sorted by id), then an end line
with the counts, so that a truncated file is detected. It is written from one consistent
snapshot while the server keeps serving (`snapshot`), streaming objects in key order with
their ACLs read per chunk, in constant memory. `kinto_django.core.backup.restore` writes a backup back.

The kinds are the installed resource types (`ResourceModel` subclasses). An app adjusts how
its type is backed up with `register()` in its `AppConfig.ready()`: opt-in types (accounts
hold password hashes), model columns beyond the engine's, bulk upkeep after a restore.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.db import connection, models, transaction

from kinto_django import jsonutil
from kinto_django.core.backup.kinds import CHUNK_SIZE, FORMAT, VERSION, Kind, installed_kinds
from kinto_django.core.backup.progress import Progress
from kinto_django.core.backup.sql import bucket_filter, chain_joins, json_text, qn
from kinto_django.core.models import ListTimestamp, resource_types
from kinto_django.permissions import service as permissions


@contextlib.contextmanager
def snapshot() -> Iterator[Any]:
    """A database connection that reads one consistent state while others keep writing.

    PostgreSQL: a connection of its own in one REPEATABLE READ, READ ONLY transaction.
    SQLite: a connection of its own in a deferred read transaction, which WAL mode keeps on
    its snapshot without blocking writers (Django's `atomic()` there begins IMMEDIATE and
    would block every writer for the whole backup). Called inside a transaction (tests,
    embedding code), that transaction is the snapshot.
    """
    if connection.in_atomic_block:
        yield connection
        return
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] == ":memory:":
        # A private in-memory database is reachable through this connection only.
        with transaction.atomic():
            yield connection
        return
    own = connection.copy(alias=f"{connection.alias}-backup")
    try:
        if own.vendor == "postgresql":
            own.set_autocommit(False)
            with own.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            with own.cursor() as cursor:
                cursor.execute("BEGIN DEFERRED")
        # The snapshot starts with the first read (SQLite), not with BEGIN.
        with own.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {ListTimestamp._meta.db_table}")
        yield own
    finally:
        with contextlib.suppress(Exception):
            if own.vendor == "postgresql":
                own.rollback()
            else:
                with own.cursor() as cursor:
                    cursor.execute("ROLLBACK")
        own.close()


# SQL of a kind ---------------------------------------------------------------------------


@dataclass
class BackupResult:
    """What a backup wrote: lines per kind (`list` for list timestamps)."""

    counts: dict[str, int]
    lines: int


class _Writer:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lines = 0
        self.counts: dict[str, int] = {}

    def write(self, line: dict[str, Any], kind: str | None = None) -> None:
        self.stream.write(jsonutil.dumps(line) + b"\n")
        self.lines += 1
        if kind is not None:
            self.counts[kind] = self.counts.get(kind, 0) + 1


def write_backup(
    stream: BinaryIO,
    *,
    buckets: list[str] | None = None,
    tombstones: bool = False,
    include: frozenset[str] | set[str] = frozenset(),
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
) -> BackupResult:
    """Write a backup of the whole server (or of `buckets`) to a binary stream.

    `tombstones` keeps deleted objects; `include` names the opt-in kinds' options (e.g.
    `{"accounts"}`). Memory stays constant: objects are streamed with a server-side cursor
    and their ACLs read once per chunk of `chunk_size`.
    """
    installed = installed_kinds()
    kinds = [k for k in installed if not k.options.option or k.options.option in include]
    # Lists of types left out (opt-in, or not backed up at all) are left out too.
    excluded = {model.resource_name for model in resource_types()} - {kind.name for kind in kinds}
    out = _Writer(stream)
    with snapshot() as db:
        if progress is not None and progress.stream is not None:
            progress.set_total(_count_objects(db, kinds, buckets, tombstones))
        out.write(
            {
                "format": FORMAT,
                "version": VERSION,
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
                "database": db.vendor,
                "options": {
                    "buckets": buckets,
                    "tombstones": tombstones,
                    **{
                        kind.options.option: kind.options.option in include
                        for kind in installed
                        if kind.options.option
                    },
                },
                "kinds": [kind.name for kind in kinds],
            }
        )
        stream.flush()
        for scope_name, value in _root_list_timestamps(db, excluded, kinds):
            out.write(
                {"kind": "list", "resource": scope_name, "parents": {}, "last_modified": value},
                "list",
            )
        for kind in kinds:
            if kind.parents:
                for line in _child_list_timestamps(db, kind, buckets):
                    out.write(line, "list")
            for line in _objects(db, kind, buckets, tombstones, chunk_size):
                out.write(line, kind.name)
                if progress is not None:
                    progress.advance(1)
        out.write({"kind": "end", "counts": out.counts, "lines": out.lines})
    stream.flush()
    if progress is not None:
        progress.finish()
    return BackupResult(out.counts, out.lines)


def _count_objects(db: Any, kinds: list[Kind], buckets: list[str] | None, tombstones: bool) -> int:
    """How many objects the progress bar will count (one COUNT query per kind)."""
    total = 0
    with db.cursor() as cursor:
        for kind in kinds:
            joins, _ = chain_joins(kind.model)
            where, params = _conditions(kind, buckets, tombstones)
            cursor.execute(
                f"SELECT COUNT(*) FROM {qn(kind.model._meta.db_table)} t {joins} {where}", params
            )
            total += cursor.fetchone()[0]
    return total


def _conditions(kind: Kind, buckets: list[str] | None, tombstones: bool) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    if not tombstones:
        conditions.append("NOT t.deleted")
    selected = bucket_filter(kind.model, "t", buckets)
    if selected is not None:
        conditions.append(selected[0])
        params += selected[1]
    return ("WHERE " + " AND ".join(conditions)) if conditions else "", params


def _root_list_timestamps(db: Any, excluded: set[str], kinds: list[Kind]) -> list[tuple[str, int]]:
    """Timestamps of the lists without a parent (buckets, accounts, the permissions
    endpoint…), except those of kinds left out; few rows."""
    child_kinds = {kind.name for kind in kinds if kind.parents}
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT resource_name, last_modified FROM {qn(ListTimestamp._meta.db_table)} "
            f"WHERE parent_key = 0 ORDER BY resource_name"
        )
        rows = cursor.fetchall()
    return [(name, value) for name, value in rows if name not in excluded | child_kinds]


def _child_list_timestamps(
    db: Any, kind: Kind, buckets: list[str] | None
) -> Iterator[dict[str, Any]]:
    """List timestamps of `kind` in each live parent, by the parents' ids."""
    parent = kind.parents[-1]
    joins, ancestor_ids = chain_joins(parent, "p")
    conditions = ["lt.resource_name = %s", "NOT p.deleted"]
    params: list[Any] = [kind.name]
    selected = bucket_filter(parent, "p", buckets)
    if selected is not None:
        conditions.append(selected[0])
        params += selected[1]
    sql = (
        f"SELECT lt.last_modified, {', '.join([*ancestor_ids, 'p.object_id'])} "
        f"FROM {qn(ListTimestamp._meta.db_table)} lt "
        f"JOIN {qn(parent._meta.db_table)} p ON p.row_id = lt.parent_key {joins} "
        f"WHERE {' AND '.join(conditions)} ORDER BY {', '.join([*ancestor_ids, 'p.object_id'])}"
    )
    names = kind.parent_names
    for rows in _stream(db, sql, params, CHUNK_SIZE):
        for value, *ids in rows:
            yield {
                "kind": "list",
                "resource": kind.name,
                "parents": dict(zip(names, ids, strict=True)),
                "last_modified": value,
            }


def _objects(
    db: Any, kind: Kind, buckets: list[str] | None, tombstones: bool, chunk_size: int
) -> Iterator[dict[str, Any]]:
    """The lines of every object of a kind, sorted by the ids of its ancestors, then its own
    (the unique index on (parent, id) serves each parent's part)."""
    model = kind.model
    joins, ancestor_ids = chain_joins(model)
    where, params = _conditions(kind, buckets, tombstones)
    extra = [model._meta.get_field(name) for name in kind.options.fields]
    extra_columns = [
        json_text(f"t.{qn(f.column)}", db.vendor)
        if isinstance(f, models.JSONField)
        else f"t.{qn(f.column)}"
        for f in extra
    ]
    # By ids from the root down: a backup's order does not depend on insertion order, so
    # backups of two servers with the same objects are the same file.
    order = ", ".join([*ancestor_ids, "t.object_id"])
    selected = [
        "t.row_id",
        *ancestor_ids,
        "t.object_id",
        "t.last_modified",
        "t.deleted",
        json_text("t.data", db.vendor),
        *extra_columns,
    ]
    sql = (
        f"SELECT {', '.join(selected)} FROM {qn(model._meta.db_table)} t {joins} {where} "
        f"ORDER BY {order}"
    )
    names = kind.parent_names
    depth = len(names)
    for rows in _stream(db, sql, params, chunk_size):
        acls = permissions.permissions_by_pk(model, [row[0] for row in rows], using=db)
        for row in rows:
            pk, ids = row[0], row[1 : 1 + depth]
            object_id, last_modified, deleted, data = row[1 + depth : 5 + depth]
            line: dict[str, Any] = {
                "kind": kind.name,
                "parents": dict(zip(names, ids, strict=True)),
                "id": object_id,
                "last_modified": last_modified,
                "deleted": bool(deleted),
                "data": jsonutil.loads_stored(data),
                "permissions": acls.get(pk, {}),
            }
            if extra:
                line["fields"] = {
                    f.name: (
                        jsonutil.loads_stored(value)
                        if isinstance(f, models.JSONField) and value is not None
                        else value
                    )
                    for f, value in zip(extra, row[5 + depth :], strict=True)
                }
            yield line


def _stream(db: Any, sql: str, params: list[Any], chunk_size: int) -> Iterator[list[tuple]]:
    """Rows of a query, `chunk_size` at a time, through a server-side cursor (PostgreSQL);
    SQLite steps through its result as rows are fetched."""
    cursor = db.chunked_cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield rows
    finally:
        cursor.close()
