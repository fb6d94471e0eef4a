"""`GET /__api__`: an OpenAPI 3 description of the running server (spec/06 says clients do not
depend on its details).

The document is built from the routes that answer now: `kinto_django.core.api.urls` and the apps' routes are
walked, a route switched off by a setting (history, flush…) or whose view says its feature is
off (`route_enabled`) is left out, and each view's own method list (readonly mode, the
`<endpoint>_<type>_<method>_enabled` switches) gives its operations.
`tests/core/test_openapi_conformance.py` checks every operation against the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse
from django.urls import URLPattern, URLResolver
from django.urls.resolvers import RegexPattern

from kinto_django.conf import kinto_settings
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.api.locations import application_url
from kinto_django.core.api.responses import json_response
from kinto_django.core.models import ResourceModel

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


# --- the routes ---------------------------------------------------------------------------


def template(pattern: Any) -> str:
    """An OpenAPI path template from a Django route (`<str:id>`) or regex (`(?P<id>…)`)."""
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text.removeprefix("^").removesuffix("$"))
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)


def routes(patterns: list, prefix: str = "") -> Iterator[tuple[str, str, type, dict]]:
    """(path, route name, view class, view arguments) of every protocol view answering now."""
    for entry in patterns:
        enabled = getattr(entry.pattern, "enabled", None)
        if enabled is not None and not enabled():
            continue
        path = prefix + template(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, path)
            continue
        assert isinstance(entry, URLPattern)
        view = getattr(entry.callback, "view_class", None)
        # The JSON 404 and the personal bucket's alias are no endpoints of their own.
        if not (isinstance(view, type) and issubclass(view, ProtocolView)):
            continue
        route_enabled = getattr(view, "route_enabled", None)
        if route_enabled is not None and not route_enabled():
            continue
        yield "/" + path, entry.name or "", view, entry.callback.view_initkwargs


# --- operations ---------------------------------------------------------------------------


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


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


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


def path_parameters(path: str, view: type, initkwargs: dict) -> list[dict[str, Any]]:
    model = getattr(view, "model", None)
    params = []
    for name in re.findall(r"{(\w+)}", path):
        schema: dict[str, Any] = {"type": "string"}
        if name == "id" and model is not None:
            schema = {"type": "string", "pattern": f"^{model.id_pattern}$"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def api_paths() -> dict[str, Any]:
    from kinto_django.core.api.urls import urlpatterns  # core.urls imports this module's view

    paths: dict[str, Any] = {}
    for path, name, view, initkwargs in routes(urlpatterns):
        instance = view(**initkwargs)
        model = getattr(view, "model", None)
        if model is not None:
            described = resource_operations(model, instance.endpoint)
        else:
            described = utility_operations(name, view)
            if "get" in described:
                get = described["get"]
                described["head"] = {**get, "responses": headers_only(get["responses"])}
        methods = {method.lower() for method in instance.methods()}
        item: dict[str, Any] = {m: op for m, op in described.items() if m in methods}
        if not item:
            continue
        if params := path_parameters(path, view, initkwargs):
            item["parameters"] = params
        paths[path] = item
    return paths


def document(request: Any) -> dict[str, Any]:
    paths = api_paths()
    return {
        "openapi": "3.0.3",
        "info": {
            "title": kinto_settings.project_name,
            "version": kinto_settings.project_version,
            "description": f"Kinto HTTP API {kinto_settings.http_api_version}",
        },
        "servers": [{"url": application_url(request, "")}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": SCHEMAS,
        },
        "security": [{}, {"basicAuth": []}],
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


class OpenAPIView(ProtocolView):
    """`GET /__api__`."""

    def get(self, request: Any) -> HttpResponse:
        return json_response(document(request._request))
