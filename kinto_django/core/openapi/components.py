"""The reusable parts of the document: error statuses, parameters, headers and schemas."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_STATUSES = {
    "400": "Invalid parameters (errno 107)",
    "401": "Authentication required (errno 104)",
    "403": "Forbidden (errno 121)",
    "404": "Not found (errno 110 or 111)",
    "406": "Not acceptable (errno 107)",
    "409": "Conflicting concurrent write, retry (errno 122)",
    "412": "Precondition failed (errno 114)",
    "413": "Request body too large (errno 107)",
    "415": "Unsupported media type (errno 107)",
}
# Which errors each operation of a resource may answer (spec/01, "Methods and status codes").
READ_ERRORS = ("400", "401", "403", "404", "406", "412")
WRITE_ERRORS = ("400", "401", "403", "404", "406", "409", "412", "413", "415")
DELETE_ERRORS = ("400", "401", "403", "404", "406", "409", "412")
TIMESTAMP = {"type": "integer", "minimum": 0}
ETAG = {"type": "string", "pattern": '^"[0-9]+"$'}
LIST_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
    for name, schema, text in (
        ("_since", TIMESTAMP, "objects modified after this timestamp (tombstones included)"),
        ("_before", TIMESTAMP, "objects modified before this timestamp"),
        ("_sort", {"type": "string"}, "comma-separated fields, `-` for descending"),
        ("_limit", {"type": "integer", "minimum": 0}, "page size"),
        ("_token", {"type": "string"}, "opaque pagination token, from Next-Page"),
        ("_fields", {"type": "string"}, "comma-separated fields to keep"),
    )
]
# A quoted timestamp or `*` (spec/02); anything else is a 400.
PRECONDITION = {"type": "string", "pattern": '^(\\*|"[0-9]{1,22}")$'}
PRECONDITIONS = [
    {"name": name, "in": "header", "required": False, "schema": PRECONDITION}
    for name in ("If-Match", "If-None-Match")
]
RESPONSE_BEHAVIOR = {
    "name": "Response-Behavior",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "enum": ["full", "light", "diff"]},
}
ERROR_HEADERS = {
    "401": {"WWW-Authenticate": {"required": False, "schema": {"type": "string"}}},
    "409": {"Retry-After": {"required": True, "schema": {"type": "integer"}}},
}
NOT_MODIFIED = {"description": "Not modified", "headers": {"ETag": {"schema": ETAG}}}


def header(schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"required": required, "schema": schema}


TIMESTAMP_HEADERS = {
    "ETag": header(ETAG, required=True),
    "Last-Modified": header({"type": "string"}),
}
LIST_HEADERS = {**TIMESTAMP_HEADERS, "Next-Page": header({"type": "string", "format": "uri"})}
TOTALS_HEADERS = {
    **LIST_HEADERS,
    "Total-Objects": header({"type": "integer", "minimum": 0}, required=True),
    "Total-Records": header({"type": "integer", "minimum": 0}, required=True),
}


ACL = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["code", "errno", "error"],
        "properties": {
            "code": {"type": "integer"},
            "errno": {"type": "integer"},
            "error": {"type": "string"},
            "message": {"type": "string"},
            "details": {},
            "info": {"type": "string"},
        },
    },
    "JSONPatch": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": {
                    "type": "string",
                    "enum": ["add", "remove", "replace", "move", "copy", "test"],
                },
                "path": {"type": "string"},
                "from": {"type": "string"},
                "value": {},
            },
        },
    },
    "Data": {
        "type": "object",
        "required": ["id", "last_modified"],
        "properties": {"id": {"type": "string"}, "last_modified": TIMESTAMP},
    },
    "Object": {
        "type": "object",
        "required": ["data", "permissions"],
        "properties": {"data": ref("Data"), "permissions": ACL},
    },
    # `Response-Behavior: light`/`diff` answer only `data`, with the changed fields.
    "Patched": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "object"}, "permissions": ACL},
    },
    "Tombstone": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": ref("DeletedData")},
    },
    "DeletedData": {
        "type": "object",
        "required": ["id", "last_modified", "deleted"],
        "properties": {
            "id": {"type": "string"},
            "last_modified": TIMESTAMP,
            "deleted": {"type": "boolean", "enum": [True]},
        },
        "additionalProperties": False,
    },
    "List": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": {"type": "object"}}},
    },
    "Tombstones": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": ref("DeletedData")}},
    },
    "Hello": {
        "type": "object",
        "required": [
            "project_name",
            "project_version",
            "http_api_version",
            "project_docs",
            "url",
            "settings",
            "capabilities",
        ],
        "properties": {
            "project_name": {"type": "string"},
            "project_version": {"type": "string"},
            "http_api_version": {"type": "string"},
            "project_docs": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "settings": {"type": "object"},
            "capabilities": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["description", "url"],
                    "properties": {"description": {"type": "string"}, "url": {"type": "string"}},
                },
            },
            "user": {
                "type": "object",
                "required": ["id", "principals"],
                "properties": {
                    "id": {"type": "string"},
                    "principals": {"type": "array", "items": {"type": "string"}},
                },
            },
            "eos": {"type": "string"},
            "config": {"type": "object", "nullable": True},
        },
    },
    "BatchResponses": {
        "type": "object",
        "required": ["responses"],
        "properties": {
            "responses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "status", "headers", "body"],
                    "properties": {
                        "path": {"type": "string"},
                        "status": {"type": "integer"},
                        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                        "body": {},
                    },
                },
            }
        },
    },
}
