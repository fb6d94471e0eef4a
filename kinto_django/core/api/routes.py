"""Routes: resource viewsets mounted by action on their plural and object paths, routes that
exist only while a setting enables them, and the routes the apps declare (`kinto_urls` on
their AppConfig, so that the engine never imports them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.urls import URLPattern, include, path
from django.urls.resolvers import RegexPattern
from rest_framework.routers import Route, SimpleRouter


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


class ResourceRouter(SimpleRouter):
    """Mounts resource viewsets: `<prefix>` (the list, route `<basename>-plural`) and
    `<prefix>/<id>` (an object, `<basename>-object`), each method routed to its action. A
    viewset without an action of a route has no such route (the history has no objects).

    `prefix` is a regular expression naming the parents, e.g.
    `buckets/(?P<bucket_id>[^/]+)/collections`. `register(..., enabled=callable)` switches a
    resource's routes with a setting.
    """

    routes = [
        Route(
            url=r"^{prefix}$",
            # The order is the one of the `Allow` and CORS headers.
            mapping={
                "head": "list_head",
                "get": "list",
                "post": "create",
                "delete": "destroy_list",
            },
            name="{basename}-plural",
            detail=False,
            initkwargs={},
        ),
        Route(
            url=r"^{prefix}/{lookup}$",
            mapping={
                "get": "retrieve",
                "head": "retrieve_head",
                "put": "update",
                "patch": "partial_update",
                "delete": "destroy",
            },
            name="{basename}-object",
            detail=True,
            initkwargs={},
        ),
    ]

    def __init__(self) -> None:
        super().__init__(trailing_slash=False)
        self.switches: dict[str, Callable[[], bool]] = {}

    def register(
        self,
        prefix: str,
        viewset: type,
        basename: str | None = None,
        enabled: Callable[[], bool] | None = None,
    ) -> None:
        super().register(prefix, viewset, basename)
        if enabled is not None:
            self.switches[basename or self.get_default_basename(viewset)] = enabled

    def get_urls(self) -> list:
        urls = []
        for url in super().get_urls():
            enabled = self.switches.get(url.name.rsplit("-", 1)[0])
            if enabled is not None:
                url = URLPattern(
                    SwitchedPattern(url.pattern.regex.pattern, enabled, name=url.name),
                    url.callback,
                    name=url.name,
                )
            urls.append(url)
        return urls


def view_instance(callback: Any) -> Any:
    """An instance of the view behind a route's callback, as it is when it serves a request
    (a viewset knows its action map): its methods and exposed headers can be asked."""
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        return None
    initkwargs = getattr(callback, "initkwargs", None) or getattr(callback, "view_initkwargs", {})
    view = view_class(**initkwargs)
    actions = getattr(callback, "actions", None)
    if actions is not None:
        view.action_map = actions
    return view
