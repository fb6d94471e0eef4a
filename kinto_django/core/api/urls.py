"""URL helpers: mount a resource viewset on its plural and object paths, the utility
endpoints, and the catch-all that redirects trailing slashes and answers JSON 404s.

`include("kinto_django.core.api.urls")` mounts the whole API (resource apps declare their routes with a
`kinto_urls` attribute on their AppConfig, so this module never imports them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.urls import URLPattern, include, path, re_path
from django.urls.resolvers import RegexPattern

from kinto_django.core.api import flush, views
from kinto_django.core.api.permissions_endpoint import PermissionsView
from kinto_django.core.observability import metrics
from kinto_django.core.openapi.document import OpenAPIView

app_name = "kinto"


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


urlpatterns = [
    path("", views.RootView.as_view(), name="root"),
    path("__heartbeat__", views.HeartbeatView.as_view(), name="heartbeat"),
    path("__lbheartbeat__", views.LBHeartbeatView.as_view(), name="lbheartbeat"),
    path("__version__", views.VersionView.as_view(), name="version"),
    path("contribute.json", views.ContributeView.as_view(), name="contribute"),
    path("__api__", OpenAPIView.as_view(), name="openapi"),
    path("batch", views.BatchView.as_view(), name="batch"),
    path("permissions", PermissionsView.as_view(), name="permissions"),
    switched_route(r"^__flush__$", flush.FlushView.as_view(), flush.flush_enabled, "flush"),
    switched_route(
        r"^__metrics__$", metrics.MetricsView.as_view(), metrics.metrics_enabled, "metrics"
    ),
    *app_patterns(),
    # `[\s\S]`, not `.`: an unknown path holding a newline still gets the JSON 404.
    re_path(r"^(?P<path>[\s\S]*)$", views.not_found, name="not-found"),
]


def version_redirect_patterns() -> list:
    """Root-level routes of a standalone server: `/v1` → `/v1/`, other versions → 404 (116),
    anything else → 307 to the same path under `/v1`."""
    patterns = [
        path("v1", views.root_redirect),
        re_path(r"^v\d+(?:/(?P<path>[\s\S]*))?$", views.unsupported_version),
        re_path(r"^(?P<path>[\s\S]*)$", views.version_redirect),
    ]
    return [path("", include((patterns, "kinto_redirects")))]
