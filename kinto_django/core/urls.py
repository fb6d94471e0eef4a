"""The API's URL configuration: `include("kinto_django.core.urls")` mounts the whole API
(utility endpoints, every app's resources, the operator endpoints, and the catch-all that
redirects trailing slashes and answers JSON 404s) under the prefix of the site's choice.

It wires the engine's layers together, above all of them: nothing else imports it."""

from __future__ import annotations

from django.urls import include, path, re_path

from kinto_django.core.api.endpoints import flush, health, redirects, utility
from kinto_django.core.api.endpoints.batch import BatchView
from kinto_django.core.api.endpoints.metrics import MetricsView
from kinto_django.core.api.endpoints.permissions import PermissionsView
from kinto_django.core.api.routes import app_patterns, switched_route
from kinto_django.core.observability.metrics import metrics_enabled
from kinto_django.core.openapi.document import OpenAPIView

app_name = "kinto"


urlpatterns = [
    path("", utility.RootView.as_view(), name="root"),
    path("__heartbeat__", health.HeartbeatView.as_view(), name="heartbeat"),
    path("__lbheartbeat__", health.LBHeartbeatView.as_view(), name="lbheartbeat"),
    path("__version__", utility.VersionView.as_view(), name="version"),
    path("contribute.json", utility.ContributeView.as_view(), name="contribute"),
    path("__api__", OpenAPIView.as_view(), name="openapi"),
    path("batch", BatchView.as_view(), name="batch"),
    path("permissions", PermissionsView.as_view(), name="permissions"),
    switched_route(r"^__flush__$", flush.FlushView.as_view(), flush.flush_enabled, "flush"),
    switched_route(r"^__metrics__$", MetricsView.as_view(), metrics_enabled, "metrics"),
    *app_patterns(),
    # `[\s\S]`, not `.`: an unknown path holding a newline still gets the JSON 404.
    re_path(r"^(?P<path>[\s\S]*)$", redirects.not_found, name="not-found"),
]


def version_redirect_patterns() -> list:
    """Root-level routes of a standalone server: `/v1` → `/v1/`, other versions → 404 (116),
    anything else → 307 to the same path under `/v1`."""
    patterns = [
        path("v1", redirects.root_redirect),
        re_path(r"^v\d+(?:/(?P<path>[\s\S]*))?$", redirects.unsupported_version),
        re_path(r"^(?P<path>[\s\S]*)$", redirects.version_redirect),
    ]
    return [path("", include((patterns, "kinto_redirects")))]
