"""Filters (spec/03): `<operator>_<field>=<value>` parsed, then compiled to SQL conditions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core.query.params import (
    FIELD_NAME,
    checked,
    coerce,
    invalid_value,
    parse_timestamp,
    split_list,
)
from kinto_django.core.query.sql import (
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


def split_operator(param: str) -> tuple[str, str]:
    for operator in OPERATORS:
        prefix = operator + "_"
        if param.startswith(prefix) and len(param) > len(prefix):
            return operator, param[len(prefix) :]
    return "eq", param


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
        limit = kinto_settings.max_like_wildcards
        if value.count("*") > limit:
            raise errors.invalid(
                "querystring", param, f"At most {limit} wildcards (*) are accepted"
            )
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


def like_matches(text: str, value: str) -> bool:
    """Whether `text` matches a `like_` value, case-insensitively as the databases' `LIKE`,
    in time linear in both: `*` is the only wildcard, so finding each literal between two
    stars at its first place after the previous one decides the match (no backtracking,
    unlike a regular expression, which a pattern such as `*a*a*a*b` makes exponential)."""
    if "*" not in value:
        value = f"*{value}*"
    first, *middle, last = value.lower().split("*")
    text = text.lower()
    end = len(text) - len(last)
    if end < len(first) or not text.startswith(first) or not text.endswith(last):
        return False
    position = len(first)
    for literal in middle:
        found = text.find(literal, position, end)
        if found < 0:
            return False
        position = found + len(literal)
    return True


def like_pattern(value: str) -> str:
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
        pattern = like_pattern(value)
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
