"""`GET /__api__`: an OpenAPI 3 description of the running server, built from the resource
types installed (spec/06 says clients do not depend on its details)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import HttpResponse

from core.conf import kinto_settings
from core.http import ProtocolView, application_url, json_response
from core.models import ResourceModel
from core.version import project_version

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_STATUSES = {
    "400": "Invalid parameters (errno 107)",
    "401": "Authentication required (errno 104)",
    "403": "Forbidden (errno 121)",
    "404": "Not found (errno 110 or 111)",
    "406": "Not acceptable (errno 107)",
    "412": "Precondition failed (errno 114)",
    "415": "Unsupported media type (errno 107)",
}
LIST_PARAMETERS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": text,
    }
    for name, text in (
        ("_since", "objects modified after this timestamp (tombstones included)"),
        ("_before", "objects modified before this timestamp"),
        ("_sort", "comma-separated fields, `-` for descending"),
        ("_limit", "page size"),
        ("_token", "opaque pagination token, from Next-Page"),
        ("_fields", "comma-separated fields to keep"),
    )
]
PRECONDITIONS = [
    {"name": header, "in": "header", "required": False, "schema": {"type": "string"}}
    for header in ("If-Match", "If-None-Match")
]


def resource_models() -> list[type[ResourceModel]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, ResourceModel) and not model._meta.abstract
    ]


def paths_of(model: type[ResourceModel]) -> tuple[str, str, list[str]]:
    """(plural path, object path, path parameters) from the model's ancestry."""
    chain: list[type[ResourceModel]] = []
    current: type[ResourceModel] | None = model
    while current is not None:
        chain.insert(0, current)
        field = current.parent_field
        current = current._meta.get_field(field).related_model if field else None
    prefix, names = "", []
    for ancestor in chain[:-1]:
        name = f"{ancestor.resource_name}_id"
        prefix += f"/{ancestor.plural_name}/{{{name}}}"
        names.append(name)
    plural = f"{prefix}/{model.plural_name}"
    return plural, f"{plural}/{{id}}", names


def operation(
    summary: str,
    success: dict[str, Any],
    *,
    parameters: list | None = None,
    body: bool = False,
    statuses: tuple[str, ...] = tuple(ERROR_STATUSES),
) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": dict(success)}
    for status in statuses:
        op["responses"][status] = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": ERROR}},
        }
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {
            "required": False,
            "content": {
                media: {"schema": {"$ref": "#/components/schemas/Envelope"}}
                for media in ("application/json", "application/merge-patch+json")
            },
        }
    return op


def json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def resource_paths(model: type[ResourceModel]) -> dict[str, Any]:
    plural, obj, names = paths_of(model)
    name = model.resource_name
    path_params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    id_param = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    one = json_answer(f"The {name}", {"$ref": "#/components/schemas/Object"})
    many = json_answer(f"A page of {name}s", {"$ref": "#/components/schemas/List"})
    return {
        plural: {
            "parameters": path_params,
            "get": operation(
                f"List {name}s",
                {"200": many, "304": {"description": "Not modified"}},
                parameters=LIST_PARAMETERS + PRECONDITIONS,
            ),
            "head": operation(
                f"Count {name}s (Total-Objects)",
                {"200": {"description": "Headers"}},
                parameters=LIST_PARAMETERS,
            ),
            "post": operation(
                f"Create a {name}", {"201": one, "200": one}, body=True, parameters=PRECONDITIONS
            ),
            "delete": operation(
                f"Delete {name}s", {"200": many}, parameters=LIST_PARAMETERS + PRECONDITIONS
            ),
        },
        obj: {
            "parameters": path_params + id_param,
            "get": operation(
                f"Read a {name}",
                {"200": one, "304": {"description": "Not modified"}},
                parameters=PRECONDITIONS,
            ),
            "head": operation(f"Headers of a {name}", {"200": {"description": "Headers"}}),
            "put": operation(
                f"Create or replace a {name}",
                {"200": one, "201": one},
                body=True,
                parameters=PRECONDITIONS,
            ),
            "patch": operation(
                f"Modify a {name}", {"200": one}, body=True, parameters=PRECONDITIONS
            ),
            "delete": operation(f"Delete a {name}", {"200": one}, parameters=PRECONDITIONS),
        },
    }


def document(request: Any) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/": {
            "get": operation(
                "Server information, capabilities, current user",
                {"200": json_answer("Hello", {"type": "object"})},
                statuses=(),
            )
        },
        "/__heartbeat__": {
            "get": operation(
                "Backends health",
                {
                    "200": json_answer("Healthy", {"type": "object"}),
                    "503": json_answer("A backend failed", {"type": "object"}),
                },
                statuses=(),
            )
        },
        "/__lbheartbeat__": {
            "get": operation(
                "Process is up", {"200": json_answer("Up", {"type": "object"})}, statuses=()
            )
        },
        "/__version__": {
            "get": operation(
                "Version", {"200": json_answer("Version", {"type": "object"})}, statuses=()
            )
        },
        "/batch": {
            "post": operation(
                "Several requests in one transaction",
                {"200": json_answer("Responses", {"type": "object"})},
                statuses=("400", "415"),
            )
        },
    }
    for model in resource_models():
        paths.update(resource_paths(model))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": kinto_settings.project_name,
            "version": project_version(),
            "description": f"Kinto HTTP API {kinto_settings.http_api_version}",
        },
        "servers": [{"url": application_url(request, "")}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": {
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
                "Envelope": {
                    "type": "object",
                    "properties": {
                        "data": {"type": "object"},
                        "permissions": {
                            "type": "object",
                            "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
                "Object": {
                    "type": "object",
                    "properties": {
                        "data": {
                            "type": "object",
                            "required": ["id", "last_modified"],
                            "properties": {
                                "id": {"type": "string"},
                                "last_modified": {"type": "integer"},
                            },
                        },
                        "permissions": {"type": "object"},
                    },
                },
                "List": {
                    "type": "object",
                    "properties": {"data": {"type": "array", "items": {"type": "object"}}},
                },
            },
        },
        "security": [{}, {"basicAuth": []}],
    }


class OpenAPIView(ProtocolView):
    """`GET /__api__`."""

    def get(self, request: Any) -> HttpResponse:
        return json_response(document(request._request))
