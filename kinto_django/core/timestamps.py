"""Millisecond timestamps, strictly increasing per (parent, type) scope.

Writers allocate with an upsert on the scope's `ListTimestamp` row. On PostgreSQL the upsert
takes a row lock held until commit, so concurrent writers of one scope (in any number of
server processes) are serialised and commit in timestamp order: a poller that reads the list
timestamp before the objects can never skip a change. On SQLite the write lock taken at the
start of every write transaction (`transaction_mode = IMMEDIATE`) gives the same guarantee.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import BigIntegerField
from django.db.models.expressions import RawSQL

from kinto_django import errors
from kinto_django.conf import kinto_settings, plugin_enabled
from kinto_django.core.models import ListTimestamp

TABLE = ListTimestamp._meta.db_table


def now_ms() -> int:
    return int(time.time() * 1000)


def _greatest() -> str:
    return "GREATEST" if connection.vendor == "postgresql" else "MAX"


def allocate(resource_name: str, parent_key: int, count: int = 1) -> int:
    """Reserve `count` consecutive timestamps in a scope; returns the first one.

    Must run inside the writing transaction: the scope stays locked until it commits.
    """
    sql = (
        f"INSERT INTO {TABLE} (resource_name, parent_key, last_modified) VALUES (%s, %s, %s) "
        f"ON CONFLICT (resource_name, parent_key) DO UPDATE SET last_modified = "
        f"{_greatest()}(excluded.last_modified, {TABLE}.last_modified + %s) RETURNING last_modified"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [resource_name, parent_key, now_ms() + count - 1, count])
        (last,) = cursor.fetchone()
    return last - count + 1


def allocate_forced(resource_name: str, parent_key: int, forced: int) -> tuple[int, int]:
    """The timestamp of a write that asks for `forced` (replication, spec/02), and the list's.

    A value above the list timestamp is kept and becomes the list timestamp; a value in the
    past is kept and leaves the list timestamp alone; the current value itself is bumped.
    """
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT last_modified FROM {TABLE} WHERE resource_name = %s AND parent_key = %s{lock}",
            [resource_name, parent_key],
        )
        row = cursor.fetchone()
    if row is None:
        # A never-written scope has no list timestamp yet: the value a first read would fix
        # (now) is the reference, so a past value does not drag the list into the past.
        current = max(forced, now_ms())
        set_list_timestamp(resource_name, parent_key, current)
        return forced, current
    if forced > row[0]:
        set_list_timestamp(resource_name, parent_key, forced)
        return forced, forced
    if forced == row[0]:
        timestamp = allocate(resource_name, parent_key)
        return timestamp, timestamp
    return forced, row[0]


def set_list_timestamp(resource_name: str, parent_key: int, value: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (resource_name, parent_key, last_modified) VALUES (%s, %s, %s) "
            f"ON CONFLICT (resource_name, parent_key) DO UPDATE SET last_modified = "
            f"{_greatest()}(excluded.last_modified, {TABLE}.last_modified)",
            [resource_name, parent_key, value],
        )


# Functions `(resource_name, parent) -> [(scope resource name, parent key), …]` naming the
# scopes, besides its own list's, that a write in `parent` will update before it commits
# (the history of the bucket it writes in): see `write_scopes`.
LEADING_SCOPES: list[Callable[[str, Any], list[tuple[str, int]]]] = []


def register_leading_scopes(scopes: Callable[[str, Any], list[tuple[str, int]]]) -> None:
    LEADING_SCOPES.append(scopes)


def write_scopes(resource_name: str, parent: Any) -> list[tuple[str, int]]:
    """The scopes a write of a `resource_name` object in `parent` locks, in lock order.

    Every write locks them in the same order: the leading scopes (sorted), then its own
    list. A write that locked its list first and a shared scope (a bucket's history) at the
    end would deadlock with a batch that holds the shared scope from an earlier sub-request
    and then wants that list.
    """
    leading = sorted(
        {scope for scopes in LEADING_SCOPES for scope in scopes(resource_name, parent)}
    )
    own = (resource_name, parent.pk if parent is not None else 0)
    return [scope for scope in leading if scope != own] + [own]


def lock_scope(resource_name: str, parent_key: int, create: bool = False) -> None:
    """Take the scope's lock at the start of a write, before any object row is locked.

    Writers then always lock the scope first and rows after: a batch (which keeps the scopes
    of its earlier sub-requests locked until it commits) and a single write of one of its
    rows cannot wait for each other in opposite orders, which PostgreSQL ends as a deadlock.
    A scope without a row has no objects to lock yet. SQLite's write transactions begin
    IMMEDIATE and already hold the database lock.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if create:
            # A scope that has no row yet gets one (as its first read would), so that the
            # lock exists before anything is written in it.
            cursor.execute(
                f"INSERT INTO {TABLE} (resource_name, parent_key, last_modified) "
                f"VALUES (%s, %s, %s) ON CONFLICT (resource_name, parent_key) "
                f"DO UPDATE SET last_modified = {TABLE}.last_modified",
                [resource_name, parent_key, now_ms()],
            )
            return
        cursor.execute(
            f"SELECT 1 FROM {TABLE} WHERE resource_name = %s AND parent_key = %s FOR UPDATE",
            [resource_name, parent_key],
        )


def lock_write(resource_name: str, parent: Any) -> None:
    """Lock every scope a write in `parent` updates, in `write_scopes` order."""
    for scope in write_scopes(resource_name, parent):
        lock_scope(*scope, create=scope[0] != resource_name)


# Advisory lock (two-key form, apart from the batches' one-key locks) that every write
# transaction holds shared while the flush endpoint is enabled; a flush takes it alone.
WRITES_LOCK = (0x4B494E54, 1)


def flush_may_run() -> bool:
    """Whether a flush may erase everything under way (PostgreSQL, `POST /__flush__`
    enabled: test and development servers): only then do requests take the flush's lock."""
    return connection.vendor == "postgresql" and plugin_enabled(
        "flush_endpoint_enabled", "kinto.plugins.flush"
    )


def enter_write() -> None:
    """Start of a write transaction, before it reads anything it writes below: wait while a
    flush runs, and keep any flush waiting until this transaction ends (PostgreSQL).

    A write that read its parents before a flush could otherwise store rows below them
    after it. Only while `POST /__flush__` is enabled (test servers): otherwise, no cost.
    """
    if not flush_may_run():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", list(WRITES_LOCK))


@contextlib.contextmanager
def flush_barrier() -> Iterator[None]:
    """A whole request, from its first read to its response, waits while a flush runs and
    keeps any flush waiting until it ends (PostgreSQL, while `POST /__flush__` is enabled:
    otherwise no cost). Without it, a request reading its parents, then its ACLs, with a
    flush committed in between, saw a bucket without its grants (403)."""
    if not flush_may_run():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s, %s)", list(WRITES_LOCK))
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError):  # a lost connection released it already
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_shared(%s, %s)", list(WRITES_LOCK))


def exclude_writes() -> None:
    """For the flush: wait for the writes under way, hold new ones back until commit."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(WRITES_LOCK))


def lock_scopes_in_order(scopes: list[str]) -> None:
    """Lock the lists a batch will write, all at once and in one global order.

    A batch keeps every scope it wrote locked until it commits; two batches writing the same
    lists in opposite orders would wait for each other. Advisory locks taken up front in
    sorted order make them queue instead. No-op on SQLite (one writer at a time anyway).
    """
    if connection.vendor != "postgresql" or not scopes:
        return
    enter_write()
    keys = sorted(
        {
            int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big", signed=True)
            for s in scopes
        }
    )
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def list_timestamp_expression(resource_name: str, parent_key: int) -> RawSQL:
    """The scope's timestamp as a column of another query: read by the same statement as a
    list's page, it is the timestamp of that page's snapshot (None if never written)."""
    return RawSQL(
        f"SELECT last_modified FROM {TABLE} WHERE resource_name = %s AND parent_key = %s",
        [resource_name, parent_key],
        output_field=BigIntegerField(),
    )


def list_timestamp(resource_name: str, parent_key: int) -> int:
    """The scope's current timestamp; the first read of a never-written scope fixes it to now."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT last_modified FROM {TABLE} WHERE resource_name = %s AND parent_key = %s",
            [resource_name, parent_key],
        )
        row = cursor.fetchone()
        if row is not None:
            return row[0]
        if kinto_settings.readonly:
            raise errors.service_unavailable(
                "Resource timestamp cannot be written on a read-only server.",
                cause=errors.CAUSE.READ_ONLY,
            )
        cursor.execute(
            f"INSERT INTO {TABLE} (resource_name, parent_key, last_modified) VALUES (%s, %s, %s) "
            f"ON CONFLICT (resource_name, parent_key) DO NOTHING",
            [resource_name, parent_key, now_ms()],
        )
        cursor.execute(
            f"SELECT last_modified FROM {TABLE} WHERE resource_name = %s AND parent_key = %s",
            [resource_name, parent_key],
        )
        return cursor.fetchone()[0]


def forget_scopes(resource_name: str, parent_keys_sql: str, params: list) -> None:
    """Drop the list timestamps of children scopes whose parents are being purged."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE resource_name = %s AND parent_key IN ({parent_keys_sql})",
            [resource_name, *params],
        )
