"""Restoring a backup (docs/backup-format.md): validate the whole file (`validate`), then
write it back in one transaction, chunk by chunk.

Validation reads the file once without touching the database (except to check, in bulk, the
parents a file refers to without containing them) and stops at the first bad line, so that
nothing is half-restored. The restore then writes ids, timestamps, tombstones, list
timestamps and ACLs exactly as they are in the file, a constant number of queries per chunk
of objects, without events (no listener, webhook or history sees a restore) and without
bumping any timestamp. Its memory grows with the number of containers (buckets and
collections) and lists in the file, not with the number of records.

`Restorer` is one unit (chunks, conflicts, bulk inserts and updates, list timestamps and
ACLs in one pass), hence the length of this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, models, transaction

from kinto_django.core import actions, timestamps
from kinto_django.core.backup.kinds import CHUNK_SIZE, Kind
from kinto_django.core.backup.kinds import installed_kinds as _installed_kinds
from kinto_django.core.backup.lines import (
    EndLine,
    LineParser,
    ListLine,
    ObjectLine,
    local_file,
    numbered_lines,
    open_backup,
    uri_of,
)
from kinto_django.core.backup.progress import Progress
from kinto_django.core.backup.sql import qn, relation, resolve
from kinto_django.core.backup.validate import validate
from kinto_django.core.models import ListTimestamp, ResourceModel
from kinto_django.permissions import service as permissions

CONFLICT_MODES = ("fail", "skip", "replace")


CONFLICTS_SHOWN = 10


class RestoreError(Exception):
    """The database refused the restore, which was rolled back."""


class RestoreConflict(RestoreError):
    """The database holds objects the file would overwrite (on-conflict `fail`), or a
    timestamp that the file gives to another object of the same list."""


# Reading ---------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    """What a restore did (or would do, for a dry run), per kind."""

    created: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    list_timestamps: int = 0

    def add(self, bucket: dict[str, int], kind: str, count: int) -> None:
        if count:
            bucket[kind] = bucket.get(kind, 0) + count


@dataclass
class _Existing:
    pk: int
    parent_pk: int
    object_id: str
    last_modified: int
    deleted: bool


class Restorer:
    """Writes validated lines, a chunk of consecutive lines of one kind at a time."""

    def __init__(self, on_conflict: str, chunk_size: int = CHUNK_SIZE) -> None:
        self.on_conflict = on_conflict
        self.chunk_size = chunk_size
        self.report = RestoreReport()
        self.conflicts = 0
        self.shown: list[str] = []

    def run(self, lines: Iterable[ObjectLine | ListLine], progress: Progress | None) -> None:
        """Write the lines; raises `RestoreError` (the caller's transaction then rolls back)."""
        chunk: list[Any] = []
        try:
            for line in lines:
                if chunk and (
                    len(chunk) >= self.chunk_size
                    or self.chunk_key(chunk[0]) != self.chunk_key(line)
                ):
                    self.write(chunk, progress)
                    chunk = []
                chunk.append(line)
            if chunk:
                self.write(chunk, progress)
        except RestoreError as error:
            # Existing objects (`fail`) explain later refusals, such as a taken timestamp.
            if self.conflicts:
                raise self.conflict_report(str(error)) from None
            raise
        if self.conflicts:
            raise self.conflict_report()

    def conflict_report(self, then: str | None = None) -> RestoreConflict:
        more = self.conflicts - len(self.shown)
        return RestoreConflict(
            "\n".join(
                [
                    f"{self.conflicts} objects of the file already exist "
                    "(choose --on-conflict skip or replace):",
                    *self.shown,
                    *([f"… and {more} more"] if more > 0 else []),
                    *([f"then {then}"] if then else []),
                ]
            )
        )

    @staticmethod
    def chunk_key(line: ObjectLine | ListLine) -> tuple[str, str]:
        if isinstance(line, ListLine):
            return ("list", line.resource)
        return ("object", line.kind.name)

    def write(self, chunk: list[Any], progress: Progress | None) -> None:
        # Runs inside the restore's transaction: a refused statement rolls everything back.
        try:
            if isinstance(chunk[0], ListLine):
                self.write_lists(chunk)
            else:
                self.write_objects(chunk[0].kind, chunk)
        except IntegrityError as error:
            raise RestoreConflict(
                f"lines {chunk[0].number}-{chunk[-1].number}: the database refused them "
                f"(two objects of one list with the same id or timestamp?): {error}"
            ) from None
        except DatabaseError as error:
            raise RestoreError(
                f"lines {chunk[0].number}-{chunk[-1].number}: the database refused them: {error}"
            ) from None
        if progress is not None:
            progress.advance(len(chunk))

    def parents_of(
        self, kind: Kind, lines: list[Any]
    ) -> tuple[dict[tuple[str, ...], tuple[int, bool]], list[Any]]:
        """Stored parents of the lines, and the lines whose parent is alive (in `skip` mode
        a parent kept as a tombstone drops what the file has below it)."""
        if not kind.parents:
            return {(): (0, False)}, lines
        parents = resolve(kind.parents[-1], sorted({line.parents for line in lines}))
        kept = []
        for line in lines:
            found = parents.get(line.parents)
            if found is None:
                raise RestoreConflict(f"line {line.number}: its parent vanished meanwhile")
            if found[1]:
                name = "list" if isinstance(line, ListLine) else line.kind.name
                self.report.add(self.report.skipped, name, 1)
                continue
            kept.append(line)
        return parents, kept

    def write_lists(self, lines: list[ListLine]) -> None:
        kind = lines[0].kind
        if kind is not None and kind.parents:
            parents, lines = self.parents_of(kind, lines)
        else:
            parents = {(): (0, False)}
        rows = [(line.resource, parents[line.parents][0], line.last_modified) for line in lines]
        if not rows:
            return
        rel, params = relation(
            [("resource_name", "text"), ("parent_key", "bigint"), ("last_modified", "bigint")],
            rows,
        )
        table = qn(ListTimestamp._meta.db_table)
        greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
        # A list's timestamp never goes back: a newer one in the database stays.
        sql = (
            f"INSERT INTO {table} (resource_name, parent_key, last_modified) "
            f"SELECT k.resource_name, k.parent_key, k.last_modified FROM {rel} WHERE true "
            f"ON CONFLICT (resource_name, parent_key) DO UPDATE SET last_modified = "
            f"{greatest}(excluded.last_modified, {table}.last_modified)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        self.report.list_timestamps += len(rows)

    def write_objects(self, kind: Kind, lines: list[ObjectLine]) -> None:
        model = kind.model
        parents, lines = self.parents_of(kind, lines)
        if not lines:
            return
        parent_pk = {line.number: parents[line.parents][0] for line in lines}
        by_id, by_timestamp = self.existing(model, lines, parent_pk)
        new: list[ObjectLine] = []
        replaced: list[tuple[ObjectLine, _Existing]] = []
        conflicts: list[str] = []
        for line in lines:
            found = by_id.get((parent_pk[line.number], line.id))
            if found is None:
                new.append(line)
            elif self.on_conflict == "fail":
                state = " (as a tombstone)" if found.deleted else ""
                conflicts.append(f"line {line.number}: {line.uri} already exists{state}")
            elif self.on_conflict == "skip":
                self.report.add(self.report.skipped, kind.name, 1)
            else:
                replaced.append((line, found))
        # In `fail` mode the restore goes on (as if skipping) to report every conflict; the
        # transaction is rolled back at the end.
        self.conflicts += len(conflicts)
        self.shown += conflicts[: max(CONFLICTS_SHOWN - len(self.shown), 0)]
        self.check_timestamps(
            model, [*new, *(line for line, _ in replaced)], parent_pk, by_timestamp
        )
        purged = [found.pk for line, found in replaced if line.deleted and not found.deleted]
        if purged:
            # A live object turned tombstone loses what a deletion takes away.
            selection = model.objects.filter(pk__in=purged)
            actions.purge_children(model, selection)
            model.on_purged(selection)
            permissions.purge_permissions(model, selection)
        pks = self.insert(kind, new, parent_pk)
        pks.update(self.update(kind, replaced))
        written = [*new, *(line for line, _ in replaced)]
        permissions.set_permissions_by_pk(
            model,
            {pks[line.number]: line.permissions for line in written if line.permissions},
            replace=[found.pk for _, found in replaced],
        )
        if kind.has_upkeep:
            kind.after_restore(
                [self.instance(kind, line, pks[line.number], parent_pk) for line in written]
            )
        self.report.add(self.report.created, kind.name, len(new))
        self.report.add(self.report.replaced, kind.name, len(replaced))

    def existing(
        self, model: type[ResourceModel], lines: list[ObjectLine], parent_pk: dict[int, int]
    ) -> tuple[dict[tuple[int, str], _Existing], dict[tuple[int, int], _Existing]]:
        """Stored rows with the id or the timestamp of a line, in its list (one query)."""
        table = qn(model._meta.db_table)
        parent = (
            f"t.{qn(model._meta.get_field(model.parent_field).column)}"
            if model.parent_field
            else "0"
        )
        by_id, id_params = relation(
            [("parent", "bigint"), ("object_id", "text")],
            [(parent_pk[line.number], line.id) for line in lines],
        )
        by_ts, ts_params = relation(
            [("parent", "bigint"), ("last_modified", "bigint")],
            [(parent_pk[line.number], line.last_modified) for line in lines],
        )
        selected = (
            f"SELECT t.row_id, {parent}, t.object_id, t.last_modified, t.deleted FROM {table} t"
        )
        sql = (
            f"{selected} JOIN {by_id} ON {parent} = k.parent AND t.object_id = k.object_id "
            f"UNION {selected} JOIN {by_ts} ON {parent} = k.parent "
            f"AND t.last_modified = k.last_modified"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, id_params + ts_params)
            rows = [_Existing(pk, p, i, lm, bool(d)) for pk, p, i, lm, d in cursor.fetchall()]
        return (
            {(row.parent_pk, row.object_id): row for row in rows},
            {(row.parent_pk, row.last_modified): row for row in rows},
        )

    def check_timestamps(
        self,
        model: type[ResourceModel],
        lines: list[ObjectLine],
        parent_pk: dict[int, int],
        stored: dict[tuple[int, int], _Existing],
    ) -> None:
        """Timestamps are unique in a list: refuse, clearly, to give one that another stored
        object (or another line of the chunk) has."""
        seen: dict[tuple[int, int], ObjectLine] = {}
        for line in lines:
            key = (parent_pk[line.number], line.last_modified)
            other = stored.get(key)
            holder = None
            if other is not None and other.object_id != line.id:
                holder = uri_of(model, line.parents, other.object_id) + " in the database"
            elif key in seen:
                holder = f"{seen[key].uri} (line {seen[key].number})"
            if holder is not None:
                raise RestoreConflict(
                    f"line {line.number}: {line.uri} has timestamp {line.last_modified}, "
                    f"which {holder} already has (timestamps are unique in a list)"
                )
            seen[key] = line

    def column_values(self, kind: Kind, line: ObjectLine) -> list[Any]:
        values: list[Any] = []
        for name in kind.options.fields:
            f = kind.model._meta.get_field(name)
            value = line.fields[name]
            values.append(
                kind.options.json_text(value) if isinstance(f, models.JSONField) else value
            )
        return values

    def extra_columns(self, kind: Kind) -> list[tuple[str, str, bool]]:
        """(column, PostgreSQL type, is JSON) of the kind's registered extra fields."""
        result = []
        for name in kind.options.fields:
            f = kind.model._meta.get_field(name)
            is_json = isinstance(f, models.JSONField)
            sql_type = "text" if is_json else f.db_type(connection)
            result.append((f.column, sql_type, is_json))
        return result

    def cast(self, expression: str, is_json: bool) -> str:
        return (
            f"{expression}::jsonb" if is_json and connection.vendor == "postgresql" else expression
        )

    def insert(
        self, kind: Kind, lines: list[ObjectLine], parent_pk: dict[int, int]
    ) -> dict[int, int]:
        """Insert new rows in one statement; line number → row id."""
        if not lines:
            return {}
        model = kind.model
        extras = self.extra_columns(kind)
        columns = [
            ("object_id", "text", False),
            ("data", "text", True),
            ("last_modified", "bigint", False),
            ("deleted", "boolean", False),
        ]
        if model.parent_field:
            columns.append((model._meta.get_field(model.parent_field).column, "bigint", False))
        columns += extras
        rows = []
        for line in lines:
            row = [line.id, kind.options.json_text(line.data), line.last_modified, line.deleted]
            if model.parent_field:
                row.append(parent_pk[line.number])
            rows.append(tuple(row + self.column_values(kind, line)))
        rel, params = relation([(f"v{i}", c[1]) for i, c in enumerate(columns)], rows)
        names = ", ".join(qn(c[0]) for c in columns)
        values = ", ".join(self.cast(f"k.v{i}", c[2]) for i, c in enumerate(columns))
        parent = qn(columns[4][0]) if model.parent_field else "0"
        sql = (
            f"INSERT INTO {qn(model._meta.db_table)} ({names}) SELECT {values} FROM {rel} "
            f"RETURNING row_id, {parent}, object_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = {(p, i): pk for pk, p, i in cursor.fetchall()}
        return {line.number: returned[(parent_pk[line.number], line.id)] for line in lines}

    def update(self, kind: Kind, replaced: list[tuple[ObjectLine, _Existing]]) -> dict[int, int]:
        """Overwrite stored rows with the file's version in one statement."""
        if not replaced:
            return {}
        extras = self.extra_columns(kind)
        columns = [
            ("row_id", "bigint", False),
            ("data", "text", True),
            ("last_modified", "bigint", False),
            ("deleted", "boolean", False),
            *extras,
        ]
        rows = [
            (
                found.pk,
                kind.options.json_text(line.data),
                line.last_modified,
                line.deleted,
                *self.column_values(kind, line),
            )
            for line, found in replaced
        ]
        rel, params = relation([(f"v{i}", c[1]) for i, c in enumerate(columns)], rows)
        table = qn(kind.model._meta.db_table)
        assignments = ", ".join(
            f"{qn(c[0])} = {self.cast(f'k.v{i}', c[2])}" for i, c in enumerate(columns) if i
        )
        sql = f"UPDATE {table} SET {assignments} FROM {rel} WHERE {table}.row_id = k.v0"
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return {line.number: found.pk for line, found in replaced}

    def instance(
        self, kind: Kind, line: ObjectLine, pk: int, parent_pk: dict[int, int]
    ) -> ResourceModel:
        """The written object with its ancestors (ids only), for the upkeep hooks."""
        obj = kind.model(
            pk=pk,
            object_id=line.id,
            data=line.data,
            last_modified=line.last_modified,
            deleted=line.deleted,
        )
        child = obj
        for depth in range(len(kind.parents) - 1, -1, -1):
            parent = kind.parents[depth](object_id=line.parents[depth])
            if depth == len(kind.parents) - 1:
                parent.pk = parent_pk[line.number]
            setattr(child, child.parent_field, parent)
            child = parent
        return obj


def object_lines(path: str, progress: Progress | None) -> Iterator[ObjectLine | ListLine]:
    """The lines to write, from a file that passed validation."""
    kinds = {kind.name: kind for kind in _installed_kinds()}
    parser = LineParser(kinds, checked=False)
    with open_backup(path) as stream:
        lines = numbered_lines(stream)
        number, raw = next(lines)
        parser.parse_header(number, raw)
        for number, raw in lines:
            line = parser.parse(number, raw)
            if isinstance(line, EndLine):
                return
            yield line


def restore(
    path: str,
    *,
    on_conflict: str = "fail",
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
    validation_progress: Progress | None = None,
) -> RestoreReport:
    """Validate a backup file (`-`: standard input), then restore it in one transaction
    (rolled back for a dry run). Raises `BackupFileError` (nothing written) or
    `RestoreError` (rolled back)."""
    if on_conflict not in CONFLICT_MODES:
        raise ValueError(f"on_conflict is one of {', '.join(CONFLICT_MODES)}")
    restorer = Restorer(on_conflict, chunk_size)
    with local_file(path) as readable:
        validated = validate(readable, validation_progress)
        if validation_progress is not None:
            validation_progress.finish()
        if progress is not None:
            progress.set_total(sum(validated.counts.values()))
        with transaction.atomic():
            timestamps.enter_write()
            restorer.run(object_lines(readable, progress), progress)
            if dry_run:
                transaction.set_rollback(True)
    if progress is not None:
        progress.finish()
    return restorer.report
