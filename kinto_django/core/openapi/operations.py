"""The operations of each endpoint: resources from their model, utility endpoints by route."""

from __future__ import annotations

from typing import Any

from kinto_django.conf import kinto_settings
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.models import ResourceModel
from kinto_django.core.openapi.components import (
    DELETE_ERRORS,
    ERROR,
    ERROR_HEADERS,
    ERROR_STATUSES,
    ETAG,
    LIST_HEADERS,
    LIST_PARAMETERS,
    NOT_MODIFIED,
    PRECONDITIONS,
    READ_ERRORS,
    RESPONSE_BEHAVIOR,
    TIMESTAMP,
    TIMESTAMP_HEADERS,
    TOTALS_HEADERS,
    WRITE_ERRORS,
    header,
    ref,
)


def operation(
    summary: str,
    success: dict[str, Any],
    *,
    errors: tuple[str, ...] = (),
    parameters: list | None = None,
    body: dict[str, Any] | None = None,
) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": dict(success)}
    for status in errors:
        op["responses"][status] = json_answer(ERROR_STATUSES[status], ERROR)
    for status, headers in ERROR_HEADERS.items():
        if status in op["responses"]:
            op["responses"][status]["headers"] = headers
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": False, "content": body}
    return op


def json_answer(
    description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def resource_operations(model: type[ResourceModel], endpoint: str) -> dict[str, dict]:
    """Every operation of one endpoint (`plural` or `object`) of a resource type."""
    name = model.resource_name
    one = json_answer(f"The {name}", ref("Object"), TIMESTAMP_HEADERS)
    if endpoint == "plural":
        page = json_answer(f"A page of {name}s", ref("List"), LIST_HEADERS)
        return {
            "get": operation(
                f"List {name}s",
                {"200": page, "304": NOT_MODIFIED},
                errors=READ_ERRORS,
                parameters=LIST_PARAMETERS + PRECONDITIONS,
            ),
            "head": operation(
                f"Count {name}s (Total-Objects)",
                {
                    "200": {"description": "Headers", "headers": TOTALS_HEADERS},
                    "304": NOT_MODIFIED,
                },
                errors=READ_ERRORS,
                parameters=LIST_PARAMETERS + PRECONDITIONS,
            ),
            "post": operation(
                f"Create a {name} (200: the id exists, the stored {name} is returned)",
                {"201": one, "200": one},
                errors=WRITE_ERRORS,
                parameters=PRECONDITIONS,
                body={"application/json": {"schema": envelope(model, "POST")}},
            ),
            "delete": operation(
                f"Delete {name}s (their tombstones)",
                {"200": json_answer("Tombstones", ref("Tombstones"), LIST_HEADERS)},
                errors=DELETE_ERRORS,
                parameters=LIST_PARAMETERS + PRECONDITIONS,
            ),
        }
    changes = {"schema": envelope(model, "PATCH")}
    patches = {
        "application/json": changes,
        "application/merge-patch+json": changes,
        "application/json-patch+json": {"schema": ref("JSONPatch")},
    }
    tombstone = json_answer(
        "Its tombstone", ref("Tombstone"), {"ETag": header(ETAG, required=True)}
    )
    return {
        "get": operation(
            f"Read a {name}",
            {"200": one, "304": NOT_MODIFIED},
            errors=READ_ERRORS,
            parameters=PRECONDITIONS,
        ),
        "head": operation(
            f"Headers of a {name}",
            {"200": {"description": "Headers", "headers": TIMESTAMP_HEADERS}, "304": NOT_MODIFIED},
            errors=READ_ERRORS,
            parameters=PRECONDITIONS,
        ),
        "put": operation(
            f"Create (201) or replace (200) a {name}",
            {"200": one, "201": one},
            errors=WRITE_ERRORS,
            parameters=PRECONDITIONS,
            body={"application/json": {"schema": envelope(model, "PUT")}},
        ),
        "patch": operation(
            f"Modify a {name} (`Response-Behavior: light` or `diff`: only the changed fields)",
            {"200": json_answer(f"The {name}", ref("Patched"), TIMESTAMP_HEADERS)},
            errors=WRITE_ERRORS,
            parameters=[*PRECONDITIONS, RESPONSE_BEHAVIOR],
            body=patches,
        ),
        "delete": operation(
            f"Delete a {name}",
            {"200": tombstone},
            errors=DELETE_ERRORS,
            parameters=[
                *PRECONDITIONS,
                {"name": "last_modified", "in": "query", "required": False, "schema": TIMESTAMP},
            ],
        ),
    }


def envelope(model: type[ResourceModel], method: str) -> dict[str, Any]:
    """The request body of a write: `data` (with the fields the type requires, e.g. an
    account's password: `required_data_fields` of the model) and the type's ACL names."""
    data: dict[str, Any] = {"type": "object"}
    required = getattr(model, "required_data_fields", {}).get(method, ())
    if required:
        data["required"] = list(required)
        data["properties"] = {field: {"type": "string"} for field in required}
        if "id" in required:
            data["properties"]["id"] = {"type": "string", "pattern": f"^{model.id_pattern}$"}
    acl = {
        "type": "object",
        "properties": {
            acl_name: {"type": "array", "items": {"type": "string"}}
            for acl_name in getattr(model, "acl_names", ())
        },
        "additionalProperties": False,
    }
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"data": data, "permissions": acl},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = ["data"]
    if method == "PATCH":
        # `{}` changes nothing: 400 "Provide at least one of data or permissions".
        schema["minProperties"] = 1
    return schema


def utility_operations(name: str, view: type[ProtocolView]) -> dict[str, dict]:
    """The operations of a utility endpoint, by route name."""
    anything = {"type": "object"}
    if name == "batch":
        return {
            "post": operation(
                "Several requests in one transaction",
                {"200": json_answer("Responses, in request order", ref("BatchResponses"))},
                errors=("400", "409", "413", "415"),
                body={"application/json": {"schema": batch_request_schema()}},
            )
        }
    if name == "heartbeat":
        health = {
            "type": "object",
            "additionalProperties": {"type": "boolean", "nullable": True},
        }
        return {
            "get": operation(
                "Backends health",
                {
                    "200": json_answer("Healthy", health),
                    "503": json_answer("A backend failed", health),
                },
            )
        }
    if name == "flush":
        return {
            "post": operation(
                "Erase every object, permission and cached value",
                {"202": json_answer("Flushed", anything)},
            )
        }
    if name == "history-snapshot":
        records = json_answer("The records then", ref("List"))
        get = operation(
            "Records of a collection as they were at a timestamp",
            {"200": records},
            errors=("400", "401", "403", "404"),
        )
        return {"get": get}
    if name == "permissions":
        listing = json_answer("Objects and the caller's permissions on them", ref("List"))
        get = operation(
            "Objects the caller holds permissions on",
            {"200": listing},
            errors=("400", "401", "403"),
            parameters=LIST_PARAMETERS,
        )
        return {"get": get}
    if name == "metrics":
        return {
            "get": {
                "summary": "Metrics in Prometheus' text format",
                "responses": {
                    "200": {
                        "description": "Prometheus exposition",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        }
    if name == "changes":
        return {
            "get": {
                "summary": "Live changes: a WebSocket, or an event stream with "
                "`Accept: text/event-stream` (served by the ASGI application)",
                "responses": {
                    "200": {
                        "description": "Server-Sent Events",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "406": json_answer("Neither a WebSocket nor an event stream", ERROR),
                },
            }
        }
    summaries = {
        "root": ("Server information, capabilities, current user", ref("Hello")),
        "lbheartbeat": ("Process is up", anything),
        "version": ("Version", anything),
        "contribute": ("Open-source project metadata", anything),
        "openapi": ("This document", {"type": "object", "required": ["openapi", "paths"]}),
    }
    summary, schema = summaries.get(name, (view.__doc__ or name, anything))
    return {"get": operation(summary, {"200": json_answer(summary, schema)})}


def headers_only(responses: dict[str, Any]) -> dict[str, Any]:
    """HEAD answers: the same statuses and headers, no body."""
    return {
        status: {k: v for k, v in answer.items() if k != "content"}
        for status, answer in responses.items()
    }


def batch_request_schema() -> dict[str, Any]:
    method = {"type": "string", "enum": ["GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH"]}
    fields = {
        "method": method,
        "path": {"type": "string", "pattern": "^/"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"type": "object"},
    }
    requests: dict[str, Any] = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["path"],
            "properties": fields,
            "additionalProperties": False,
        },
    }
    if kinto_settings.batch_max_requests:
        requests["maxItems"] = kinto_settings.batch_max_requests
    return {
        "type": "object",
        "required": ["requests"],
        "properties": {
            "requests": requests,
            "defaults": {"type": "object", "properties": fields, "additionalProperties": False},
        },
        "additionalProperties": False,
    }
