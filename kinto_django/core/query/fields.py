"""`_fields` (spec/03): only the requested fields of each object."""

from __future__ import annotations

from typing import Any

from kinto_django.core.query.sorting import value_at
from kinto_django.core.query.sql import (
    MISSING,
)


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
