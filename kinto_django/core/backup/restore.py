"""Restoring a backup (`kinto_django.core.backup.dump`, docs/backup-format.md): validate the whole file, then
write it back in one transaction, chunk by chunk.

Validation reads the file once without touching the database (except to check, in bulk, the
parents a file refers to without containing them) and stops at the first bad line, so that
nothing is half-restored. The restore then writes ids, timestamps, tombstones, list
timestamps and ACLs exactly as they are in the file, a constant number of queries per chunk
of objects, without events (no listener, webhook or history sees a restore) and without
bumping any timestamp. Its memory grows with the number of containers (buckets and
collections) and lists in the file, not with the number of records.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.db import DatabaseError, IntegrityError, connection, models, transaction

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import actions, timestamps
from kinto_django.core.backup.dump import (
    CHUNK_SIZE,
    FORMAT,
    VERSION,
    Kind,
    Progress,
    ancestry,
    chain_joins,
    qn,
)
from kinto_django.core.backup.dump import installed_kinds as _installed_kinds
from kinto_django.core.models import ListTimestamp, ResourceModel
from kinto_django.permissions import service as permissions

CONFLICT_MODES = ("fail", "skip", "replace")
MAX_TIMESTAMP = 2**63 - 1
# Principals become Django user and group names (at most 150 characters).
MAX_PRINCIPAL_LENGTH = 150
SCOPE_NAME_LENGTH = ListTimestamp._meta.get_field("resource_name").max_length
# Far above any request limit (`max_json_depth`): only what cannot be stored is refused.
MAX_DATA_DEPTH = 500
# List names: resource names, and names of other timestamped lists such as `permissions`.
LIST_NAME = re.compile(r"[a-z][a-z0-9_:.-]*")
CONFLICTS_SHOWN = 10
OBJECT_KEYS = ("kind", "parents", "id", "last_modified", "deleted", "data", "permissions")
LIST_KEYS = ("kind", "resource", "parents", "last_modified")
END_KEYS = ("kind", "counts", "lines")


class BackupFileError(Exception):
    """The file cannot be restored: the first bad line (1-based) and why."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line is not None else reason)
        self.line = line
        self.reason = reason


class RestoreError(Exception):
    """The database refused the restore, which was rolled back."""


class RestoreConflict(RestoreError):
    """The database holds objects the file would overwrite (on-conflict `fail`), or a
    timestamp that the file gives to another object of the same list."""


# Reading ---------------------------------------------------------------------------------


@contextlib.contextmanager
def local_file(path: str) -> Iterator[str]:
    """A path that can be read twice: `-` (standard input) is spooled to a temporary file."""
    if path != "-":
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="kinto-restore-", suffix=".jsonl") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        yield spool.name


@contextlib.contextmanager
def open_backup(path: str) -> Iterator[BinaryIO]:
    """The file's lines as bytes, decompressed when gzip (recognised by its magic bytes)."""
    with contextlib.ExitStack() as stack:
        raw: BinaryIO = stack.enter_context(open(path, "rb"))
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            yield stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        else:
            raw.seek(0)
            yield raw


def numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """`(line number, bytes)`; a damaged compressed stream is reported as a file error."""
    number = 0
    try:
        for number, raw in enumerate(stream, start=1):  # noqa: B007
            yield number, raw
    except (EOFError, OSError, zlib.error) as error:
        raise BackupFileError(
            number + 1, f"the compressed data is truncated or damaged ({error})"
        ) from None


@dataclass
class ObjectLine:
    """An object of the file."""

    number: int
    kind: Kind
    parents: tuple[str, ...]
    id: str
    last_modified: int
    deleted: bool
    data: dict[str, Any]
    permissions: dict[str, list[str]]
    fields: dict[str, Any]

    @property
    def uri(self) -> str:
        return uri_of(self.kind.model, self.parents, self.id)


@dataclass
class ListLine:
    """The timestamp of one list (its `resource` type in one parent)."""

    number: int
    resource: str
    kind: Kind | None
    parents: tuple[str, ...]
    last_modified: int


@dataclass
class EndLine:
    number: int
    counts: dict[str, int]
    lines: int


def uri_of(model: type[ResourceModel], parents: tuple[str, ...], object_id: str) -> str:
    """The object's path, e.g. `/buckets/b/collections/c/records/r`."""
    chain = [*ancestry(model), model]
    return "".join(
        f"/{m.plural_name}/{i}" for m, i in zip(chain, [*parents, object_id], strict=True)
    )


class LineParser:
    """Turns each line into an `ObjectLine`, `ListLine` or `EndLine`, checking its shape.

    Reading a file that passed validation again (`checked=False`), the content checks (ids,
    data, principals) are not repeated.
    """

    def __init__(self, kinds: dict[str, Kind], checked: bool = True) -> None:
        self.kinds = kinds
        self.checked = checked
        self.id_rules: dict[type[ResourceModel], tuple[re.Pattern, int]] = {}

    def parse_header(self, number: int, raw: bytes) -> dict[str, Any]:
        line = self.load(number, raw)
        if line.get("format") != FORMAT:
            raise BackupFileError(
                number, f'not a backup: the first line has no "format": "{FORMAT}"'
            )
        version = line.get("version")
        if version != VERSION or isinstance(version, bool):
            raise BackupFileError(
                number,
                f"format version {version!r} is not supported (this server reads {VERSION})",
            )
        kinds = line.get("kinds")
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise BackupFileError(number, '"kinds" should be a list of resource names')
        missing = [name for name in kinds if name not in self.kinds]
        if missing:
            raise BackupFileError(
                number, f"this server does not store {', '.join(missing)} objects"
            )
        self.kinds = {name: self.kinds[name] for name in kinds}
        return line

    def load(self, number: int, raw: bytes) -> dict[str, Any]:
        try:
            line = jsonutil.loads_stored(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise BackupFileError(number, f"not valid JSON ({error})") from None
        if not isinstance(line, dict):
            raise BackupFileError(number, "a line should be a JSON object")
        return line

    def parse(self, number: int, raw: bytes) -> ObjectLine | ListLine | EndLine:
        line = self.load(number, raw)
        kind_name = line.get("kind")
        if kind_name == "list":
            return self.parse_list(number, line)
        if kind_name == "end":
            keys_exactly(number, line, END_KEYS)
            counts, lines = line["counts"], line["lines"]
            if not isinstance(counts, dict) or not all(is_int(v) for v in counts.values()):
                raise BackupFileError(number, '"counts" should map kinds to numbers')
            if not is_int(lines):
                raise BackupFileError(number, '"lines" should be a number')
            return EndLine(number, counts, lines)
        if not isinstance(kind_name, str) or kind_name not in self.kinds:
            known = ", ".join(["list", "end", *self.kinds])
            raise BackupFileError(number, f"unknown kind {kind_name!r} (one of {known})")
        return self.parse_object(number, line, self.kinds[kind_name])

    def parse_list(self, number: int, line: dict[str, Any]) -> ListLine:
        keys_exactly(number, line, LIST_KEYS)
        resource = line["resource"]
        if (
            not isinstance(resource, str)
            or len(resource) > SCOPE_NAME_LENGTH
            or not LIST_NAME.fullmatch(resource)
        ):
            raise BackupFileError(number, '"resource" should be a resource name')
        kind = self.kinds.get(resource)
        if kind is not None:
            parents = self.parse_parents(number, line["parents"], kind)
        elif line["parents"] != {}:
            raise BackupFileError(number, f"unknown list {resource!r} in a parent")
        else:
            parents = ()
        return ListLine(number, resource, kind, parents, timestamp(number, line["last_modified"]))

    def parse_parents(self, number: int, value: Any, kind: Kind) -> tuple[str, ...]:
        names = kind.parent_names
        if not isinstance(value, dict) or sorted(value) != sorted(names):
            expected = ", ".join(names) or "none"
            raise BackupFileError(number, f'"parents" should name the {expected} ids')
        if self.checked:
            for model in kind.parents:
                self.check_id(number, model, value[model.resource_name])
        return tuple(value[name] for name in names)

    def check_id(self, number: int, model: type[ResourceModel], value: Any) -> None:
        """Ids as the API accepts them (spec/01), within this server's length limit."""
        rule = self.id_rules.get(model)
        if rule is None:
            limit = getattr(kinto_settings, model.id_length_setting)
            column = model._meta.get_field("object_id").max_length
            rule = self.id_rules[model] = (re.compile(model.id_pattern), min(limit, column))
        pattern, limit = rule
        if not isinstance(value, str) or len(value) > limit or not pattern.fullmatch(value):
            raise BackupFileError(number, f"invalid {model.resource_name} id {value!r}")

    def parse_object(self, number: int, line: dict[str, Any], kind: Kind) -> ObjectLine:
        keys = OBJECT_KEYS + (("fields",) if kind.options.fields else ())
        keys_exactly(number, line, keys)
        parents = self.parse_parents(number, line["parents"], kind)
        object_id = line["id"]
        deleted, data, acls = line["deleted"], line["data"], line["permissions"]
        if self.checked:
            self.check_content(number, kind, object_id, deleted, data, acls)
        fields = line.get("fields", {})
        if kind.options.fields and (
            not isinstance(fields, dict) or sorted(fields) != sorted(kind.options.fields)
        ):
            raise BackupFileError(
                number, f'"fields" should hold exactly {", ".join(kind.options.fields)}'
            )
        if self.checked and kind.options.fields:
            problem = jsonutil.check_structure(fields, MAX_DATA_DEPTH)
            if problem:
                raise BackupFileError(number, f'"fields": {problem}')
        return ObjectLine(
            number,
            kind,
            parents,
            object_id,
            timestamp(number, line["last_modified"]),
            deleted,
            data,
            {name: principals for name, principals in acls.items() if principals},
            fields,
        )

    def check_content(
        self, number: int, kind: Kind, object_id: Any, deleted: Any, data: Any, acls: Any
    ) -> None:
        model = kind.model
        self.check_id(number, model, object_id)
        if not isinstance(deleted, bool):
            raise BackupFileError(number, '"deleted" should be true or false')
        if not isinstance(data, dict):
            raise BackupFileError(number, '"data" should be an object')
        if not isinstance(acls, dict):
            raise BackupFileError(number, '"permissions" should be an object')
        if deleted and (data or acls):
            raise BackupFileError(number, "a tombstone has empty data and no permissions")
        problem = jsonutil.check_structure(data, MAX_DATA_DEPTH)
        if problem is None and not deleted:
            problem = kind.check(data)
        if problem:
            raise BackupFileError(number, f"{model.resource_name} {object_id!r}: {problem}")
        for name, principals in acls.items():
            if name not in model.acl_names:
                raise BackupFileError(
                    number,
                    f"unknown permission {name!r} (one of {', '.join(model.acl_names)})",
                )
            if not isinstance(principals, list) or not all(
                isinstance(p, str)
                and 0 < len(p) <= MAX_PRINCIPAL_LENGTH
                and not jsonutil.has_unstorable(p)
                for p in principals
            ):
                raise BackupFileError(
                    number,
                    f'"permissions.{name}" should be a list of principals '
                    f"(1 to {MAX_PRINCIPAL_LENGTH} characters)",
                )


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def keys_exactly(number: int, line: dict[str, Any], keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in line]
    if missing:
        raise BackupFileError(number, f'missing "{missing[0]}"')
    unknown = sorted(set(line) - set(keys))
    if unknown:
        raise BackupFileError(number, f'unknown field "{unknown[0]}"')


def timestamp(number: int, value: Any) -> int:
    if not is_int(value) or not 0 <= value <= MAX_TIMESTAMP:
        raise BackupFileError(number, f'"last_modified" should be an integer, not {value!r}')
    return value


# Validation ------------------------------------------------------------------------------


@dataclass
class Validated:
    """A file that passed validation: its header and the counts of its end line."""

    header: dict[str, Any]
    counts: dict[str, int]
    lines: int


class Validator:
    """Checks a whole file in one pass, keeping only per-container and per-list state.

    Every list of the file is contiguous and sorted by id (so no object appears twice), has
    its timestamp line before its objects, and no object is newer than its list; every
    parent is alive, earlier in the file or in the database.
    """

    def __init__(self, kinds: dict[str, Kind]) -> None:
        self.parser = LineParser(kinds)
        self.containers: dict[tuple[str, ...], bool] = {}
        self.list_timestamps: dict[tuple[str, ...], int] = {}
        self.finished_lists: set[tuple[str, ...]] = set()
        self.current_list: tuple[str, ...] | None = None
        self.last_id = ""
        self.outside_parents: dict[tuple[str, ...], int] = {}
        self.counts: dict[str, int] = {}
        container_models = {m for k in kinds.values() for m in k.parents[-1:]}
        self.containers_of = {k.name for k in kinds.values() if k.model in container_models}

    def run(self, stream: BinaryIO, progress: Progress | None = None) -> Validated:
        header: dict[str, Any] | None = None
        end: EndLine | None = None
        last = 0
        for number, raw in numbered_lines(stream):
            last = number
            if not raw.strip():
                raise BackupFileError(number, "empty line")
            if header is None:
                header = self.parser.parse_header(number, raw)
                continue
            if end is not None:
                raise BackupFileError(number, "content after the end line")
            line = self.parser.parse(number, raw)
            if isinstance(line, EndLine):
                end = line
                self.check_end(line)
            elif isinstance(line, ListLine):
                self.check_list(line)
                self.count("list")
            else:
                self.check_object(line)
                self.count(line.kind.name)
            if progress is not None:
                progress.advance(1)
        if header is None:
            raise BackupFileError(None, "the file is empty")
        if end is None:
            raise BackupFileError(last, "the file ends without its end line (truncated?)")
        self.check_outside_parents()
        return Validated(header, end.counts, end.lines)

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def check_end(self, line: EndLine) -> None:
        if line.counts != self.counts:
            raise BackupFileError(
                line.number,
                f"the end line counts {line.counts} but the file holds {self.counts}",
            )
        if line.lines != line.number - 1:
            raise BackupFileError(
                line.number,
                f"the end line counts {line.lines} lines before it, not {line.number - 1}",
            )

    def check_parent(self, number: int, kind: Kind, parents: tuple[str, ...]) -> None:
        if not parents:
            return
        parent = kind.parents[-1]
        key = (parent.resource_name, *parents)
        alive = self.containers.get(key)
        if alive is None:
            self.outside_parents.setdefault(key, number)
        elif not alive:
            raise BackupFileError(
                number, f"its parent {uri_of(parent, parents[:-1], parents[-1])} is deleted"
            )

    def check_list(self, line: ListLine) -> None:
        scope = (line.resource, *line.parents)
        if scope in self.list_timestamps:
            raise BackupFileError(line.number, "a second timestamp for the same list")
        if line.kind is not None:
            self.check_parent(line.number, line.kind, line.parents)
        self.list_timestamps[scope] = line.last_modified

    def check_object(self, line: ObjectLine) -> None:
        kind = line.kind
        scope = (kind.name, *line.parents)
        if scope != self.current_list:
            if scope in self.finished_lists:
                raise BackupFileError(
                    line.number, f"{kind.model.plural_name} of one list should be consecutive"
                )
            if self.current_list is not None:
                self.finished_lists.add(self.current_list)
            self.current_list, self.last_id = scope, ""
        elif line.id <= self.last_id:
            raise BackupFileError(
                line.number,
                f"{line.uri} is out of order (ids of one list are sorted, each once)",
            )
        self.last_id = line.id
        list_timestamp = self.list_timestamps.get(scope)
        list_uri = uri_of(kind.model, line.parents, "")[:-1]
        if list_timestamp is None:
            raise BackupFileError(line.number, f"no timestamp line of {list_uri} before it")
        if line.last_modified > list_timestamp:
            raise BackupFileError(
                line.number,
                f"{line.uri} is newer ({line.last_modified}) than its list ({list_timestamp})",
            )
        self.check_parent(line.number, kind, line.parents)
        if kind.name in self.containers_of:
            self.containers[(kind.name, *line.parents, line.id)] = not line.deleted

    def check_outside_parents(self) -> None:
        """Parents the file refers to without containing them must be alive in the database
        (a few queries for all of them)."""
        by_model: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for (name, *ids), number in self.outside_parents.items():
            by_model.setdefault(name, []).append((tuple(ids), number))
        models_by_name = {
            m.resource_name: m for k in self.parser.kinds.values() for m in k.parents
        }
        problems: list[tuple[int, str]] = []
        for name, wanted in by_model.items():
            model = models_by_name[name]
            for start in range(0, len(wanted), CHUNK_SIZE):
                chunk = wanted[start : start + CHUNK_SIZE]
                found = resolve(model, [ids for ids, _ in chunk])
                for ids, number in chunk:
                    if found.get(ids, (0, True))[1]:
                        uri = uri_of(model, ids[:-1], ids[-1])
                        reason = (
                            f"its parent {uri} is neither earlier in the file nor in the database"
                        )
                        problems.append((number, reason))
        if problems:
            raise BackupFileError(*min(problems))


def validate(path: str, progress: Progress | None = None) -> Validated:
    """Check a whole backup file; raises `BackupFileError` at its first bad line."""
    kinds = {kind.name: kind for kind in _installed_kinds()}
    with open_backup(path) as stream:
        return Validator(kinds).run(stream, progress)


# SQL helpers -----------------------------------------------------------------------------


def relation(columns: list[tuple[str, str]], rows: list[tuple]) -> tuple[str, list[Any]]:
    """A derived table `k` of `rows`, its columns typed as `(name, PostgreSQL type)`, bound as
    one array per column (PostgreSQL) or one JSON document (SQLite), however many rows."""
    names = [name for name, _ in columns]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{sql_type}[]" for _, sql_type in columns)
        return f"unnest({arrays}) AS k({', '.join(names)})", [
            [row[i] for row in rows] for i in range(len(columns))
        ]
    extracted = ", ".join(
        f"json_extract(value, '$[{i}]') AS {name}" for i, name in enumerate(names)
    )
    return f"(SELECT {extracted} FROM json_each(%s)) AS k", [jsonutil.dumps(rows).decode()]


def resolve(
    model: type[ResourceModel], keys: list[tuple[str, ...]]
) -> dict[tuple[str, ...], tuple[int, bool]]:
    """Row id and `deleted` of stored objects named by their ids from the root down."""
    if not keys:
        return {}
    joins, ancestor_ids = chain_joins(model, "p")
    id_columns = [*ancestor_ids, "p.object_id"]
    rel, params = relation([(f"c{i}", "text") for i in range(len(id_columns))], keys)
    matches = " AND ".join(f"{column} = k.c{i}" for i, column in enumerate(id_columns))
    sql = (
        f"SELECT p.row_id, p.deleted, {', '.join(id_columns)} "
        f"FROM {qn(model._meta.db_table)} p {joins} JOIN {rel} ON {matches}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {tuple(ids): (pk, bool(deleted)) for pk, deleted, *ids in cursor.fetchall()}


# Restoring -------------------------------------------------------------------------------


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
