"""Validation helpers shared by the resource types' `validate_data` hooks."""

from __future__ import annotations

from typing import Any

import jsonschema

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.permissions.identity import MAX_PRINCIPAL_LENGTH

NOT_A_MAPPING = "is not a mapping type: Does not implement dict-like functionality."


def check_json_schema(schema: Any, name: str) -> None:
    """A stored schema must be a JSON object that is a valid JSON Schema (Draft-7 meta-schema),
    of at most `schema_max_bytes` of JSON.

    The message starts with the offending keyword inside the schema, as the reference server
    words it (e.g. `type'bogus' is not valid under any of the given schemas`).
    """
    if not isinstance(schema, dict):
        raise errors.invalid("body", name, f'"{schema}" {NOT_A_MAPPING}')
    # Bounded before the meta-schema check, whose cost grows with the schema (about a second
    # for half a megabyte), and because every validation against it is costlier still.
    limit = kinto_settings.schema_max_bytes
    if len(jsonutil.dumps(schema)) > limit:
        raise errors.invalid("body", name, f"Schema is larger than {limit} bytes")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        # Only the innermost keyword, glued to the message, as the reference server does.
        where = str(error.path[-1]) if error.path else ""
        raise errors.invalid("body", name, f"{where}{error.message}") from None


def check_principals_list(value: Any, name: str, max_length: int) -> list[str]:
    """A list of principals in `data` (group members): non-empty strings of bounded length."""
    if not isinstance(value, list):
        raise errors.invalid("body", name, f'"{value}" is not iterable')
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise errors.invalid("body", f"{name}.{index}", f"{item} is not a string: {{'': ''}}")
        if not item:
            raise errors.invalid("body", f"{name}.{index}", "Required")
        if len(item) > max_length:
            raise errors.invalid(
                "body", f"{name}.{index}", f"Principal is longer than {max_length} characters"
            )
    return value


def check_principal(principal: Any, name: str) -> None:
    """A principal in a body: a non-empty string short enough to be a user or group name."""
    if not isinstance(principal, str):
        raise errors.invalid("body", name, f"{principal} is not a string: {{'': ''}}")
    if not principal:
        raise errors.invalid("body", name, "Required")
    if len(principal) > MAX_PRINCIPAL_LENGTH:
        raise errors.invalid(
            "body", name, f"Principal is longer than {MAX_PRINCIPAL_LENGTH} characters"
        )
