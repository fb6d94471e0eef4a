"""Route helpers: a resource viewset mounted on its plural and object paths, routes that
exist only while a setting enables them, and the routes the apps declare (`kinto_urls` on
their AppConfig, so that the engine never imports them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.urls import URLPattern, include, path
from django.urls.resolvers import RegexPattern


def resource_urls(viewset: type, plural_route: str, object_route: str, name: str) -> list:
    """Both endpoints of one resource, e.g. `buckets/<bucket_id>/collections` and `…/<id>`."""
    return [
        path(plural_route, viewset.as_view(endpoint="plural"), name=f"{name}-plural"),
        path(object_route, viewset.as_view(endpoint="object"), name=f"{name}-object"),
    ]


class SwitchedPattern(RegexPattern):
    """A route that exists only while `enabled()` says so: an optional feature switched off
    by a setting leaves its paths to the routes after it (or to the JSON 404)."""

    def __init__(self, regex: str, enabled: Callable[[], bool], name: str | None = None) -> None:
        super().__init__(regex, name=name, is_endpoint=True)
        self.enabled = enabled

    def match(self, path: str) -> Any:
        return super().match(path) if self.enabled() else None


def switched_route(
    regex: str, view: Callable[..., Any], enabled: Callable[[], bool], name: str
) -> URLPattern:
    """`re_path(regex, view)` that answers only while the feature is enabled."""
    return URLPattern(SwitchedPattern(regex, enabled, name=name), view, name=name)


def app_patterns() -> list:
    patterns = []
    for config in apps.get_app_configs():
        module = getattr(config, "kinto_urls", None)
        if module:
            patterns.append(path("", include(module)))
    return patterns
