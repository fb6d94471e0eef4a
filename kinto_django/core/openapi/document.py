"""`GET /__api__`: an OpenAPI 3 description of the running server (spec/06 says clients do not
depend on its details).

The document is built from the routes that answer now: the API's routes, found in the site's
URLconf wherever it mounts them, are walked, a route switched off by a setting (history, flush…) or whose view says its feature is
off (`route_enabled`) is left out, and each view's own method list (readonly mode, the
`<endpoint>_<type>_<method>_enabled` switches) gives its operations.
`tests/core/openapi/test_openapi_conformance.py` checks every operation against the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

from kinto_django.conf import kinto_settings
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.api.locations import application_url
from kinto_django.core.api.responses import json_response
from kinto_django.core.api.routes import view_instance
from kinto_django.core.openapi.components import SCHEMAS
from kinto_django.core.openapi.operations import (
    headers_only,
    resource_operations,
    utility_operations,
)
from kinto_django.version import project_version


def template(pattern: Any) -> str:
    """An OpenAPI path template from a Django route (`<str:id>`) or regex (`(?P<id>…)`)."""
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text.removeprefix("^").removesuffix("$"))
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)


def api_patterns(patterns: list | None = None) -> list:
    """The API's routes in the site's URLconf (its `kinto` namespace, wherever it is mounted):
    read at request time, so that the URL configuration and this module need not import each
    other."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "kinto":
                return entry.url_patterns
            found = api_patterns(entry.url_patterns)
            if found:
                return found
    return []


def routes(patterns: list, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, route name, view instance) of every protocol view answering now."""
    for entry in patterns:
        enabled = getattr(entry.pattern, "enabled", None)
        if enabled is not None and not enabled():
            continue
        path = prefix + template(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, path)
            continue
        assert isinstance(entry, URLPattern)
        view = view_instance(entry.callback)
        # The JSON 404 and the personal bucket's alias are no endpoints of their own.
        if not isinstance(view, ProtocolView):
            continue
        route_enabled = getattr(view, "route_enabled", None)
        if route_enabled is not None and not route_enabled():
            continue
        yield "/" + path, entry.name or "", view


def path_parameters(path: str, view: Any) -> list[dict[str, Any]]:
    model = getattr(view, "model", None)
    params = []
    for name in re.findall(r"{(\w+)}", path):
        schema: dict[str, Any] = {"type": "string"}
        if name == "id" and model is not None:
            schema = {"type": "string", "pattern": f"^{model.id_pattern}$"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def api_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, name, instance in routes(api_patterns()):
        model = getattr(instance, "model", None)
        describe = getattr(type(instance), "openapi_operations", None)
        if describe is not None:
            # An endpoint of an app that describes itself (attachments).
            described = describe()
        elif model is not None:
            described = resource_operations(model, "object" if instance.detail else "plural")
        else:
            described = utility_operations(name, type(instance))
            if "get" in described:
                get = described["get"]
                described["head"] = {**get, "responses": headers_only(get["responses"])}
        methods = {method.lower() for method in instance.methods()}
        item: dict[str, Any] = {m: op for m, op in described.items() if m in methods}
        if not item:
            continue
        if params := path_parameters(path, instance):
            item["parameters"] = params
        paths[path] = item
    return paths


def document(request: Any) -> dict[str, Any]:
    paths = api_paths()
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
            "schemas": SCHEMAS,
        },
        "security": [{}, {"basicAuth": []}],
    }


class OpenAPIView(ProtocolView):
    """`GET /__api__`."""

    def get(self, request: Any) -> HttpResponse:
        return json_response(document(request._request))
