"""Reading a backup file: opening it (plain or gzip, a path or `-`), and each line parsed and
checked on its own (the whole file is checked by `validate`)."""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.backup.kinds import FORMAT, VERSION, Kind, ancestry
from kinto_django.core.models import ListTimestamp, ResourceModel
from kinto_django.permissions.identity import MAX_PRINCIPAL_LENGTH

MAX_TIMESTAMP = 2**63 - 1
SCOPE_NAME_LENGTH = ListTimestamp._meta.get_field("resource_name").max_length
# Far above any request limit (`max_json_depth`): only what cannot be stored is refused.
MAX_DATA_DEPTH = 500
# List names: resource names, and names of other timestamped lists such as `permissions`.
LIST_NAME = re.compile(r"[a-z][a-z0-9_:.-]*")


OBJECT_KEYS = ("kind", "parents", "id", "last_modified", "deleted", "data", "permissions")
LIST_KEYS = ("kind", "resource", "parents", "last_modified")
END_KEYS = ("kind", "counts", "lines")


class BackupFileError(Exception):
    """The file cannot be restored: the first bad line (1-based) and why."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line is not None else reason)
        self.line = line
        self.reason = reason


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
