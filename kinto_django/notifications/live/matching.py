"""The list filters of spec/03 evaluated in memory, on the objects of live events.

A subscription takes the same query string as a list request (`status=paid&min_qty=2`); the
filters are parsed by the engine (`kinto_django.core.query`), so the same input is valid or refused in
the same way, and matched here with the same semantics as the SQL the engine generates: JSON
type ranks (null < string < number < boolean < array < object < missing field), exact
equality of JSON values (`1` is not `true`), code-point order of strings.
"""

from __future__ import annotations

from typing import Any

from kinto_django import jsonutil
from kinto_django.core.query.filters import Filter, addressable, like_matches
from kinto_django.core.query.sorting import value_at
from kinto_django.core.query.sql import MISSING, rank_of


def _field(obj: dict[str, Any], name: str) -> Any:
    if name == "deleted":
        return True if obj.get("deleted") is True else obj.get("deleted", MISSING)
    return value_at(obj, name)


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values, types included (Python alone says `True == 1`)."""
    if rank_of(left) != rank_of(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(
            json_equal(v, right[k]) for k, v in left.items()
        )
    return left == right


def _same_rank_key(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return jsonutil.dumps(value)
    return value


def compare(stored: Any, op: str, value: Any) -> bool:
    """`stored op value` where `stored` may be MISSING: types compare by rank first."""
    stored_rank, value_rank = rank_of(stored), rank_of(value)
    if stored_rank != value_rank:
        return {
            "=": False,
            "<>": True,
            "<": stored_rank < value_rank,
            ">": stored_rank > value_rank,
            "<=": stored_rank < value_rank,
            ">=": stored_rank > value_rank,
        }[op]
    if op == "=":
        return json_equal(stored, value)
    if op == "<>":
        return not json_equal(stored, value)
    if value is None:
        return op in ("<=", ">=")
    a, b = _same_rank_key(stored), _same_rank_key(value)
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


OPERATORS = {"eq": "=", "not": "<>", "lt": "<", "gt": ">", "min": ">=", "max": "<="}


def _like(stored: Any, pattern: str) -> bool:
    if stored is MISSING or stored is None:
        return False
    if isinstance(stored, bool):
        text = "true" if stored else "false"
    elif isinstance(stored, str):
        text = stored
    else:
        text = jsonutil.dumps(stored).decode()
    return like_matches(text, pattern)


def matches_filter(obj: dict[str, Any], flt: Filter) -> bool:
    """One filter on one object (its data with `id` and `last_modified`)."""
    if flt.field not in ("id", "last_modified") and not addressable(flt.field):
        return False
    stored = _field(obj, flt.field)
    op, value = flt.operator, flt.value
    if op in OPERATORS:
        return compare(stored, OPERATORS[op], value)
    if op == "in":
        return any(compare(stored, "=", v) for v in value)
    if op == "exclude":
        return all(compare(stored, "<>", v) for v in value)
    if op == "has":
        return (stored is not MISSING) == bool(value)
    if op == "like":
        return _like(stored, value)
    if op in ("contains", "contains_any"):
        if not isinstance(stored, list):
            return False
        found = [any(json_equal(item, v) for item in stored) for v in value]
        return any(found) if op == "contains_any" else all(found)
    raise AssertionError(op)


def matches(obj: dict[str, Any], filters: list[Filter]) -> bool:
    """All filters (ANDed). A tombstone always matches: its fields are gone, and a client that
    holds the object must learn that it was deleted."""
    if obj.get("deleted") is True:
        return True
    return all(matches_filter(obj, flt) for flt in filters)
