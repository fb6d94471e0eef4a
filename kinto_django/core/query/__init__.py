"""List querying (spec/03): filters, sorting, pagination tokens and `_fields`, compiled to SQL
per database dialect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kinto_django import errors
from kinto_django.core.query.filters import TIMESTAMP_DIRECTIVES, Filter, parse_filter
from kinto_django.core.query.params import parse_limit, parse_timestamp
from kinto_django.core.query.sorting import Sort, parse_sort
from kinto_django.core.query.tokens import parse_token


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
