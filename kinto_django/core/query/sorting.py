"""`_sort` (spec/03), and the keyset condition that resumes a sorted list after an object."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.db.models.expressions import OrderBy

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core.query.filters import _column, _constant, addressable, comparison
from kinto_django.core.query.sql import (
    MISSING,
    SORT_KEYS,
    Columns,
    Dialect,
    RowSQL,
)

SORT_ENTRY = re.compile(r"([-+]?)([\w.]+)")


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool

    @property
    def path(self) -> list[str]:
        return self.field.split(".")


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
