"""Which requests are the API's, and the protocol view behind a route."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import Resolver404, ResolverMatch, resolve

from kinto_django.core.api.routes import view_instance


def api_match(request: HttpRequest) -> ResolverMatch | None:
    """The route of an API request, or None for anything else (a host site's pages)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
    if any(namespace.startswith("kinto") for namespace in match.namespaces):
        return match
    return None


def is_api_request(request: HttpRequest) -> bool:
    return api_match(request) is not None


def route_view(match: ResolverMatch | None) -> Any:
    """An instance of the protocol view behind a route (None for redirects and 404s)."""
    if match is None:
        return None
    view_class = getattr(match.func, "cls", None) or getattr(match.func, "view_class", None)
    route_target = getattr(view_class, "route_target", None)
    if route_target is not None:
        # An alias route (the personal `default` bucket) answers as the route it stands for.
        return route_view(route_target(match))
    if view_class is None or not hasattr(view_class, "exposed_headers"):
        return None
    return view_instance(match.func)
