"""How `GET /__api__` describes the attachment endpoint (spec/07)."""

from __future__ import annotations

from typing import Any

from kinto_django.core.openapi.components import (
    DELETE_ERRORS,
    PRECONDITIONS,
    TIMESTAMP_HEADERS,
    WRITE_ERRORS,
    header,
)
from kinto_django.core.openapi.operations import json_answer, operation

ATTACHMENT = {
    "type": "object",
    "required": ["filename", "location", "hash", "mimetype", "size"],
    "properties": {
        "filename": {"type": "string"},
        "location": {"type": "string"},
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "mimetype": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
    },
}
FORM = {
    "type": "object",
    "required": ["attachment"],
    "properties": {
        "attachment": {"type": "string", "format": "binary"},
        "data": {"type": "string", "description": "JSON object: record fields to set"},
        "permissions": {"type": "string", "description": "JSON object: the record's ACLs"},
    },
}


def operations() -> dict[str, dict[str, Any]]:
    answer = json_answer(
        "The attachment (201: the record was created)",
        ATTACHMENT,
        {**TIMESTAMP_HEADERS, "Location": header({"type": "string"}, required=True)},
    )
    return {
        "post": operation(
            "Attach a file to a record (created if missing)",
            {"200": answer, "201": answer},
            errors=WRITE_ERRORS,
            parameters=PRECONDITIONS,
            body={"multipart/form-data": {"schema": FORM}},
        ),
        "delete": operation(
            "Remove the record's file (its `attachment` becomes null)",
            {"204": {"description": "Removed"}},
            errors=DELETE_ERRORS,
            parameters=PRECONDITIONS,
        ),
    }
