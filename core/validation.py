"""Validation helpers shared by the resource types' `validate_data` hooks."""

from __future__ import annotations

from typing import Any

import jsonschema

from core import errors


def check_json_schema(schema: Any, name: str) -> None:
    """A stored schema must be a JSON object that is a valid JSON Schema (Draft-7 meta-schema)."""
    if not isinstance(schema, dict):
        raise errors.invalid("body", name, f"{schema!r} is not of type 'object'")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise errors.invalid("body", name, error.message) from None
