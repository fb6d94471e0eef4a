"""Searching inside the JSON data: the document cast to text, on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import Func, Q, TextField


class JSONText(Func):
    """The data as text for searching, without some top-level keys (account passwords)."""

    output_field = TextField()

    def __init__(self, expression: Any, hidden: Iterable[str] = ()) -> None:
        super().__init__(expression)
        self.hidden = tuple(hidden)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        params = list(params)
        for key in self.hidden:
            if connection.vendor == "postgresql":
                sql, params = f"({sql} - %s)", [*params, key]
            else:
                sql, params = f"json_remove({sql}, %s)", [*params, f'$."{key}"']
        if connection.vendor == "postgresql":
            return f"({sql})::text", params
        return f"CAST({sql} AS text)", params


def json_spellings(term: str) -> set[str]:
    """The ways `term` may appear in stored JSON text (raw, escaped, ASCII-escaped)."""
    return {term, json.dumps(term, ensure_ascii=False)[1:-1], json.dumps(term)[1:-1]}


def search_json(
    queryset: models.QuerySet,
    search_term: str,
    json_field: str,
    text_field: str,
    hidden_keys: Iterable[str] = (),
) -> models.QuerySet:
    """Rows whose `text_field` or JSON text (but for `hidden_keys`) contains the term, on
    SQLite and PostgreSQL alike (the JSON cast to text)."""
    term = search_term.strip()
    if not term:
        return queryset
    condition = Q(**{f"{text_field}__icontains": term})
    for spelling in json_spellings(term):
        condition |= Q(searched_text__icontains=spelling)
    queryset = queryset.annotate(searched_text=JSONText(json_field, hidden_keys))
    return queryset.filter(condition)
