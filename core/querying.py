"""List querying (spec/03): parse filters, `_sort`, `_limit`, `_token`, `_fields`, `_since`…
and apply them to a queryset, with keyset pagination that stays correct under writes.

Parsing is pure (unit-tested); SQL comes from `core.sql`, written once per database.
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

import orjson
from django.db.models import Q, QuerySet
from django.db.models.expressions import OrderBy

from core import errors, jsonutil
from core.conf import kinto_settings
from core.sql import MISSING, Columns, Dialect, RowSQL, balanced_join

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
    """A filter value: JSON when it parses, the raw string otherwise."""
    try:
        return jsonutil.loads(raw)
    except ValueError:
        return raw


def invalid_value(param: str) -> errors.KintoError:
    return errors.invalid("querystring", param, f"Invalid value for {param}")


def parse_timestamp(param: str, raw: str, strict_number_message: bool = False) -> int | None:
    """A timestamp value: integer or quoted integer, 0 ≤ v < now + 24h."""
    text = raw.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        text = text[1:-1]
    if text in ("null", ""):
        return None
    if not re.fullmatch(r"-?\d{1,30}", text):
        if strict_number_message:
            raise errors.invalid("querystring", param, f'"{raw}" is not a number')
        raise invalid_value(param)
    value = int(text)
    if not 0 <= value < int(time.time() * 1000) + MAX_TIMESTAMP_AHEAD_MS:
        raise invalid_value(param)
    return value


def parse_limit(raw: str) -> int | None:
    text = raw.strip()
    if not re.fullmatch(r"-?\d{1,30}", text):
        raise errors.invalid("querystring", "_limit", f'"{raw}" is not a number')
    value = int(text)
    if value < 0:
        raise errors.invalid("querystring", "_limit", f"{value} is less than minimum value 0")
    if value >= 2**63:
        raise errors.invalid(
            "querystring", "_limit", f"{value} is greater than maximum value {2**63 - 1}"
        )
    return value or None


def split_operator(param: str) -> tuple[str, str]:
    for operator in OPERATORS:
        prefix = operator + "_"
        if param.startswith(prefix) and len(param) > len(prefix):
            return operator, param[len(prefix) :]
    return "eq", param


def split_list(raw: str) -> list[str]:
    return [item for item in raw.split(",")]


def parse_filter(param: str, raw: str) -> Filter:
    operator, name = split_operator(param)
    if "\x00" in param or "\x00" in raw:
        raise errors.invalid("querystring", param, "Invalid character 0x00")
    if operator in ("in", "exclude"):
        items = split_list(raw)
        if len(items) > kinto_settings.max_filter_values:
            raise errors.invalid(
                "querystring",
                param,
                f"At most {kinto_settings.max_filter_values} values are accepted",
            )
        if name == "last_modified":
            value: Any = [parse_timestamp(param, item) for item in items]
        else:
            value = [coerce(item) for item in items]
            if name == "id" and not all(isinstance(v, str) for v in value):
                raise invalid_value(param)
        return Filter(name, operator, value, param)
    if operator in ("contains", "contains_any"):
        if name in ("id", "last_modified"):
            raise errors.invalid("querystring", param, f"Field '{name}' is not an array")
        value = coerce(raw)
        return Filter(name, operator, value if isinstance(value, list) else [value], param)
    if operator == "has":
        value = coerce(raw)
        return Filter(name, operator, value not in (False, 0, "false", "0"), param)
    if name == "last_modified":
        return Filter(name, operator, parse_timestamp(param, raw), param)
    value = coerce(raw)
    if operator == "like":
        if not isinstance(value, str):
            raise invalid_value(param)
        return Filter(name, operator, value, param)
    if name == "id" and not isinstance(value, str):
        value = (
            jsonutil.dumps(value).decode() if not isinstance(value, (int, float)) else str(value)
        )
    return Filter(name, operator, value, param)


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


def parse_token(raw: str) -> dict[str, Any]:
    bad = errors.invalid("querystring", None, "_token has invalid content")
    try:
        decoded = orjson.loads(base64.b64decode(raw.encode("ascii"), validate=False))
    except (ValueError, binascii.Error, UnicodeEncodeError, orjson.JSONDecodeError):
        raise bad from None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("last_object"), dict):
        raise bad
    if not isinstance(decoded.get("offset", 0), int) or not isinstance(
        decoded.get("nonce", ""), str
    ):
        raise bad
    return decoded


def encode_token(last_object: dict[str, Any], offset: int) -> str:
    payload = {
        "last_object": last_object,
        "offset": offset,
        "nonce": f"pagination-token-{uuid.uuid4()}",
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
                query.token = parse_token(raw)
            elif param == "_fields":
                query.fields = [f.strip() for f in raw.split(",") if f.strip()]
            continue
        parsed = parse_filter(param, raw)
        if known_fields is not None and parsed.path[0] not in known_fields:
            raise errors.invalid("querystring", param, f"Unknown filter field '{parsed.field}'")
        query.filters.append(parsed)
    if known_fields is not None:
        for sort in query.sort:
            if sort.path[0] not in known_fields:
                raise errors.invalid("querystring", "_sort", f"Unknown sort field '{sort.field}'")
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
    if op in SQL_OPERATORS:
        return comparison(name, SQL_OPERATORS[op], value)
    column = _column(name)
    if op in ("in", "exclude"):
        if column is not None:
            condition: Q | RowSQL = Q(**{f"{column}__in": value})
            return ~condition if op == "exclude" else condition
        if not value or not addressable(name):
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
        if not addressable(name):
            return _constant(False)
        path = name.split(".")
        return RowSQL(lambda dialect, cols: dialect.like(cols, path, pattern))
    if op == "has":
        if column is not None:
            return _constant(bool(value))
        if not addressable(name):
            return _constant(not value)
        path = name.split(".")
        present = RowSQL(lambda dialect, cols: dialect.present(cols, path))
        return present if value else ~present
    if op in ("contains", "contains_any"):
        if not addressable(name):
            return _constant(False)
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
        for index in range(3):
            expressions.append(
                OrderBy(RowSQL(_sort_key(path, index)), descending=entry.descending)
            )
    return expressions


def _column_sql(column: str):
    return lambda dialect, cols: (cols[column], [])


def _sort_key(path: list[str], index: int):
    def build(dialect: Dialect, cols: Columns) -> tuple[str, list[Any]]:
        keys = dialect.sort_keys(cols, path)
        return keys[index] if index < len(keys) else ("NULL", [])

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
    return result
