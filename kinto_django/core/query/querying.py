"""List querying (spec/03): parse filters, `_sort`, `_limit`, `_token`, `_fields`, `_since`…
and apply them to a queryset, with keyset pagination that stays correct under writes.

Parsing is pure (unit-tested); SQL comes from `kinto_django.core.query.sql`, written once per database.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from django.db.models import Q, QuerySet
from django.db.models.expressions import OrderBy

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.query.sql import (
    MISSING,
    SORT_KEYS,
    Columns,
    Dialect,
    RowSQL,
    balanced_join,
)

OPERATORS = (
    "contains_any",
    "contains",
    "exclude",
    "not",
    "like",
    "has",
    "min",
    "max",
    "eq",
    "lt",
    "gt",
    "in",
)
SQL_OPERATORS = {"eq": "=", "not": "<>", "lt": "<", "gt": ">", "min": ">=", "max": "<="}
TIMESTAMP_DIRECTIVES = ("_since", "_before", "_to")
FIELD_NAME = re.compile(r"[\w]+(\.[\w]+)*")
SORT_ENTRY = re.compile(r"([-+]?)([\w.]+)")
MAX_TIMESTAMP_AHEAD_MS = 24 * 3600 * 1000

# What a filter on a missing field yields, per operator (spec/03).
MISSING_MATCHES = {"not": True, "exclude": True, "gt": True, "min": True}


@dataclass(frozen=True)
class Filter:
    """`<operator>_<field>=<value>` with the value already coerced."""

    field: str
    operator: str
    value: Any
    param: str

    @property
    def path(self) -> list[str]:
        return self.field.split(".")


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool

    @property
    def path(self) -> list[str]:
        return self.field.split(".")


@dataclass
class ListQuery:
    """Everything a list request asked for, validated."""

    filters: list[Filter] = field(default_factory=list)
    sort: list[Sort] = field(default_factory=list)
    limit: int | None = None
    token: dict[str, Any] | None = None
    fields: list[str] | None = None
    deprecated_to: bool = False

    @property
    def includes_tombstones(self) -> bool:
        """Tombstones are listed only when some filter targets `last_modified`."""
        return any(f.field == "last_modified" for f in self.filters)


def querystring_params(query_string: str) -> list[tuple[str, str]]:
    """Decode the raw query string strictly (bad UTF-8 and oversize input are 400s)."""
    if len(query_string) > kinto_settings.max_querystring_length:
        raise errors.invalid(
            "querystring",
            None,
            f"Query string is longer than {kinto_settings.max_querystring_length} characters",
        )
    try:
        # WSGI hands the raw bytes over as latin-1 text (PEP 3333): unencoded UTF-8
        # characters are read back as UTF-8, as percent-encoded ones are by parse_qsl.
        try:
            query_string = query_string.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            pass  # already real text (not from a WSGI server)
        params = parse_qsl(
            query_string,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=kinto_settings.max_query_params,
        )
    except UnicodeDecodeError:
        raise errors.KintoError(
            400,
            errors.ERRNO.INVALID_PARAMETERS,
            "A request with an incorrect encoding in the querystring was received. "
            "Please make sure your requests are encoded in UTF-8.",
        ) from None
    except ValueError:
        raise errors.invalid(
            "querystring",
            None,
            f"Too many query parameters (at most {kinto_settings.max_query_params})",
        ) from None
    return params


def coerce(raw: str) -> Any:
    """A filter value: JSON when it parses, the raw string otherwise. Never raises."""
    try:
        return jsonutil.loads(raw)
    except (ValueError, RecursionError):
        return raw


def invalid_value(param: str) -> errors.KintoError:
    return errors.invalid("querystring", param, f"Invalid value for {param}")


# ASCII blanks only: `\s` would also accept characters that int() refuses (e.g. \x1f).
INTEGER_TEXT = re.compile(r"[ \t\n\r\f\v]*[-+]?\d{1,400}[ \t\n\r\f\v]*", re.ASCII)
NUMBER_TEXT = re.compile(
    r"[ \t\n\r\f\v]*-?\d{1,400}(\.\d{1,400})?([eE][-+]?\d{1,3})?[ \t\n\r\f\v]*", re.ASCII
)
MAX_INTEGER_PARAM = 2**63


def parse_number(param: str, raw: str) -> int | None:
    """An integer directive (`_limit`, `_since`…): integer, quoted integer or a JSON number
    (truncated), as the reference validates them. None for `null` and the empty string.
    """
    text = raw
    quoted = len(text) >= 2 and text.startswith('"') and text.endswith('"')
    if quoted:
        text = text[1:-1]
    elif text.strip() in ("", "null"):
        return None
    if INTEGER_TEXT.fullmatch(text):
        value = int(text)
    elif not quoted and NUMBER_TEXT.fullmatch(text) and abs(float(text)) != float("inf"):
        value = int(float(text))
    else:
        raise errors.invalid("querystring", param, f'"{text}" is not a number')
    if value < 0:
        raise errors.invalid("querystring", param, f"{value} is less than minimum value 0")
    if value > MAX_INTEGER_PARAM:
        raise errors.invalid(
            "querystring", param, f"{value} is greater than maximum value {MAX_INTEGER_PARAM}"
        )
    return value


def check_timestamp(param: str, value: int) -> int:
    """Timestamps in filters must be before now + 24h (spec/02)."""
    if not 0 <= value < int(time.time() * 1000) + MAX_TIMESTAMP_AHEAD_MS:
        raise invalid_value(param)
    return value


def parse_timestamp(param: str, raw: str, strict_number_message: bool = False) -> int | None:
    """A `last_modified` value: integer or quoted integer, 0 ≤ v < now + 24h.

    With `strict_number_message` (the `_since`/`_before`/`_to` directives and the plain
    `last_modified` parameter) the value is read like the other integer directives, with
    their error messages; `null` then means "not given" (None).
    """
    if strict_number_message:
        if raw.strip() == "" or (raw.strip() == "null" and param == "last_modified"):
            raise invalid_value(param)
        value = parse_number(param, raw)
        return None if value is None else check_timestamp(param, value)
    text = raw.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    if not re.fullmatch(r"-?\d{1,30}", text):
        raise invalid_value(param)
    return check_timestamp(param, int(text))


def parse_limit(raw: str) -> int | None:
    """`_limit`: None when absent, empty, `null` or 0 (the page size is then the default)."""
    return parse_number("_limit", raw) or None


def split_operator(param: str) -> tuple[str, str]:
    for operator in OPERATORS:
        prefix = operator + "_"
        if param.startswith(prefix) and len(param) > len(prefix):
            return operator, param[len(prefix) :]
    return "eq", param


def split_list(raw: str) -> list[str]:
    """Items of an `in_`/`exclude_` value; empty items are dropped (`in_v=` is an empty list)."""
    return [item for item in raw.split(",") if item != ""]


def checked(param: str, value: Any) -> Any:
    """A coerced value that the database can store and compare (no NUL, no lone surrogate)."""
    problem = jsonutil.check_structure(value, kinto_settings.max_json_depth)
    if problem:
        raise errors.invalid("querystring", param, problem)
    return value


def parse_filter(param: str, raw: str) -> Filter:
    """One `[<operator>_]<field>=<value>` parameter, validated and coerced (spec/03)."""
    if "\x00" in param or "\x00" in raw:
        raise errors.invalid("querystring", param, "Invalid character 0x00")
    operator, name = split_operator(param)
    if name == "last_modified":
        return Filter(name, operator, parse_timestamp_filter(param, operator, raw), param)
    if operator in ("in", "exclude"):
        items = split_list(raw)
        if len(items) > kinto_settings.max_filter_values:
            raise errors.invalid(
                "querystring",
                param,
                f"At most {kinto_settings.max_filter_values} values are accepted",
            )
        value: Any = [checked(param, coerce(item)) for item in items]
        if name == "id" and not all(isinstance(v, str) for v in value):
            raise invalid_value(param)
        return Filter(name, operator, value, param)
    value = checked(param, coerce(raw))
    if operator in ("contains", "contains_any"):
        if name == "id":
            raise errors.invalid("querystring", param, f"Field '{name}' is not an array")
        return Filter(name, operator, value if isinstance(value, list) else [value], param)
    if operator == "has":
        return Filter(name, operator, value not in (False, 0, "false", "0"), param)
    if operator == "like":
        if not isinstance(value, str):
            raise invalid_value(param)
        return Filter(name, operator, value, param)
    if name == "id" and not isinstance(value, str):
        value = raw
    return Filter(name, operator, value, param)


def parse_timestamp_filter(param: str, operator: str, raw: str) -> Any:
    """The value of a filter on `last_modified`: integers only (a list for `in_`/`exclude_`)."""
    if operator in ("in", "exclude"):
        items = split_list(raw)
        if len(items) > kinto_settings.max_filter_values:
            raise errors.invalid(
                "querystring",
                param,
                f"At most {kinto_settings.max_filter_values} values are accepted",
            )
        return [parse_timestamp(param, item) for item in items]
    if operator in ("like", "contains", "contains_any"):
        # A timestamp is an integer: never a string to match, never an array.
        raise invalid_value(param)
    if operator == "has":
        return bool(parse_timestamp(param, raw))
    return parse_timestamp(param, raw, strict_number_message=param == "last_modified")


def parse_sort(raw: str) -> list[Sort]:
    sort: list[Sort] = []
    for entry in raw.split(","):
        match = SORT_ENTRY.fullmatch(entry.strip())
        if match:
            sort.append(Sort(match.group(2), match.group(1) == "-"))
    if len(sort) > kinto_settings.max_sort_fields:
        raise errors.invalid(
            "querystring", "_sort", f"At most {kinto_settings.max_sort_fields} sort fields"
        )
    return sort


TOKEN_KEYS = {"last_object", "offset", "nonce"}


def parse_token(raw: str) -> dict[str, Any]:
    """Decode a pagination token; anything but one this server could have made is a 400."""
    bad = errors.invalid("querystring", None, "_token has invalid content")
    try:
        decoded = jsonutil.loads(
            base64.b64decode(raw.replace(" ", "+").encode("ascii"), validate=True)
        )
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise bad from None
    if not isinstance(decoded, dict) or set(decoded) != TOKEN_KEYS:
        raise bad
    last_object, offset = decoded["last_object"], decoded["offset"]
    if (
        not isinstance(last_object, dict)
        or not isinstance(decoded["nonce"], str)
        or isinstance(offset, bool)
        or not isinstance(offset, int)
        or offset < 0
    ):
        raise bad
    if "id" in last_object and not isinstance(last_object["id"], str):
        raise bad
    timestamp = last_object.get("last_modified", 0)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp < 2**63:
        raise bad
    if jsonutil.check_structure(last_object, kinto_settings.max_json_depth):
        raise bad
    return decoded


NONCE_PREFIX = "pagination-token-"


def server_nonce(nonce: Any) -> bool:
    """Whether a token's nonce has the shape `encode_token` gives (a junk one from a crafted
    token is never looked up: cache keys stay plain text)."""
    if not isinstance(nonce, str) or not nonce.startswith(NONCE_PREFIX):
        return False
    try:
        return str(uuid.UUID(nonce[len(NONCE_PREFIX) :])) == nonce[len(NONCE_PREFIX) :]
    except ValueError:
        return False


def encode_token(last_object: dict[str, Any], offset: int) -> str:
    payload = {
        "last_object": last_object,
        "offset": offset,
        "nonce": f"{NONCE_PREFIX}{uuid.uuid4()}",
    }
    return base64.b64encode(jsonutil.dumps(payload)).decode("ascii")


def parse_list_query(
    params: list[tuple[str, str]], known_fields: set[str] | None = None
) -> ListQuery:
    """Validate every list directive and filter of a query string."""
    query = ListQuery()
    for param, raw in params:
        if param.startswith("_"):
            if param in TIMESTAMP_DIRECTIVES:
                value = parse_timestamp(param, raw, strict_number_message=True)
                if param == "_to":
                    query.deprecated_to = True
                if value is not None:
                    operator = "gt" if param == "_since" else "lt"
                    query.filters.append(Filter("last_modified", operator, value, param))
            elif param == "_sort":
                query.sort = parse_sort(raw)
            elif param == "_limit":
                query.limit = parse_limit(raw)
            elif param == "_token":
                query.token = parse_token(raw) if raw else None
            elif param == "_fields":
                query.fields = [f.strip() for f in raw.split(",") if f.strip()]
            continue
        parsed = parse_filter(param, raw)
        if known_fields is not None and parsed.path[0] not in known_fields:
            raise errors.invalid("querystring", param, f"Unknown filter field '{param}'")
        query.filters.append(parsed)
    if known_fields is not None:
        for sort in query.sort:
            if sort.path[0] not in known_fields:
                raise errors.invalid("querystring", None, f"Unknown sort field '{sort.field}'")
    if not any(s.field == "last_modified" for s in query.sort):
        query.sort.append(Sort("last_modified", True))
    return query


# --- SQL -----------------------------------------------------------------------------------


def addressable(name: str) -> bool:
    return (
        bool(FIELD_NAME.fullmatch(name))
        and len(name.split(".")) <= kinto_settings.max_field_path_depth
    )


def _column(name: str) -> str | None:
    return {"id": "object_id", "last_modified": "last_modified"}.get(name)


def _constant(value: bool) -> Q:
    return Q(pk__isnull=False) if value else Q(pk__isnull=True)


def comparison(name: str, op: str, value: Any) -> Q | RowSQL:
    """`field op value` with the type-rank semantics of spec/03."""
    column = _column(name)
    if column is not None:
        lookup = {"=": "exact", "<>": "exact", "<": "lt", ">": "gt", "<=": "lte", ">=": "gte"}[op]
        condition = Q(**{f"{column}__{lookup}": value})
        return ~condition if op == "<>" else condition
    if not addressable(name):
        return _constant(op in ("<>", ">", ">="))
    path = name.split(".")
    return RowSQL(lambda dialect, cols: dialect.compare(cols, path, op, value))


def _like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "*" not in escaped:
        escaped = f"*{escaped}*"
    return escaped.replace("*", "%")


def filter_condition(flt: Filter) -> Q | RowSQL:
    """One filter as a queryset condition."""
    op, name, value = flt.operator, flt.field, flt.value
    column = _column(name)
    if column is None and not addressable(name):
        # Not a field name (`a-b`) or deeper than `max_field_path_depth`: matches nothing.
        return _constant(False)
    if op in SQL_OPERATORS:
        return comparison(name, SQL_OPERATORS[op], value)
    if op in ("in", "exclude"):
        if column is not None:
            condition: Q | RowSQL = Q(**{f"{column}__in": value})
            return ~condition if op == "exclude" else condition
        if not value:
            return _constant(op == "exclude")
        path, sql_op = name.split("."), "=" if op == "in" else "<>"
        joiner = " OR " if op == "in" else " AND "
        # One balanced expression: a flat chain of 1000 terms exceeds SQLite's parser depth.
        return RowSQL(
            lambda dialect, cols: balanced_join(
                [dialect.compare(cols, path, sql_op, v) for v in value], joiner
            )
        )
    if op == "like":
        pattern = _like_pattern(value)
        if column is not None:
            return RowSQL(lambda dialect, cols: (dialect.column_like(cols[column]), [pattern]))
        path = name.split(".")
        return RowSQL(lambda dialect, cols: dialect.like(cols, path, pattern))
    if op == "has":
        if column is not None:
            return _constant(bool(value))
        path = name.split(".")
        present = RowSQL(lambda dialect, cols: dialect.present(cols, path))
        return present if value else ~present
    if op in ("contains", "contains_any"):
        path = name.split(".")
        any_of = op == "contains_any"
        return RowSQL(lambda dialect, cols: dialect.array_contains(cols, path, value, any_of))
    raise AssertionError(op)


def apply_filters(queryset: QuerySet, filters: list[Filter]) -> QuerySet:
    for flt in filters:
        queryset = queryset.filter(filter_condition(flt))
    return queryset


def sort_expressions(sort: list[Sort]) -> list[OrderBy]:
    expressions: list[OrderBy] = []
    for entry in sort:
        column = _column(entry.field)
        if column is not None:
            expressions.append(OrderBy(RowSQL(_column_sql(column)), descending=entry.descending))
            continue
        if not addressable(entry.field):
            continue
        path = entry.path
        for index in range(SORT_KEYS):
            expressions.append(
                OrderBy(RowSQL(_sort_key(path, index)), descending=entry.descending)
            )
    return expressions


def _column_sql(column: str):
    return lambda dialect, cols: (cols[column], [])


def _sort_key(path: list[str], index: int):
    def build(dialect: Dialect, cols: Columns) -> tuple[str, list[Any]]:
        return dialect.sort_keys(cols, path)[index]

    return build


def value_at(obj: dict[str, Any], name: str) -> Any:
    """The value of a dotted field in an object, or MISSING."""
    node: Any = obj
    for key in name.split("."):
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


def after_token(sort: list[Sort], last_object: dict[str, Any]) -> Q | RowSQL:
    """Rows strictly after `last_object` in the `sort` order (keyset pagination)."""
    alternatives: list[Q | RowSQL] = []
    equal_so_far: list[Q | RowSQL] = []
    for entry in sort:
        value = last_object.get(entry.field, MISSING)
        if _column(entry.field) is not None and value is MISSING:
            continue
        if _column(entry.field) is None and not addressable(entry.field):
            continue
        op = "<" if entry.descending else ">"
        step = comparison(entry.field, op, value)
        clause: Q | RowSQL = step
        for condition in equal_so_far:
            clause = clause & condition
        alternatives.append(clause)
        equal_so_far.append(comparison(entry.field, "=", value))
    if not alternatives:
        return _constant(True)
    combined = alternatives[0]
    for alternative in alternatives[1:]:
        combined = combined | alternative
    return combined


def token_object(obj: dict[str, Any], sort: list[Sort]) -> dict[str, Any]:
    """What the pagination token remembers of the last item: its sort field values."""
    remembered: dict[str, Any] = {}
    for entry in sort:
        value = value_at(obj, entry.field)
        if value is not MISSING:
            remembered[entry.field] = value
    return remembered


def project_fields(obj: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Keep only the requested (possibly dotted) fields, plus `id` and `last_modified`."""
    result: dict[str, Any] = {}
    for name in fields:
        value = value_at(obj, name)
        if value is MISSING:
            continue
        keys = name.split(".")
        node = result
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            node[keys[-1]] = value
    for key in ("id", "last_modified"):
        if key in obj:
            result[key] = obj[key]
    if obj.get("deleted") is True and len(obj) == 3:
        # A tombstone keeps its flag, or clients would take it for a live object.
        result["deleted"] = True
    return result
