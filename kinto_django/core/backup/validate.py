"""Validation of a whole backup file before anything is written: one pass, without touching
the database except to check, in bulk, the parents the file refers to without containing
them; it stops at the first bad line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from kinto_django.core.backup.kinds import CHUNK_SIZE, Kind
from kinto_django.core.backup.kinds import installed_kinds as _installed_kinds
from kinto_django.core.backup.lines import (
    BackupFileError,
    EndLine,
    LineParser,
    ListLine,
    ObjectLine,
    numbered_lines,
    open_backup,
    uri_of,
)
from kinto_django.core.backup.progress import Progress
from kinto_django.core.backup.sql import resolve


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
