"""The standalone server mounts the API at /v1/ and redirects version-less paths to it."""

from django.urls import include, path

from core.urls import version_redirect_patterns

urlpatterns = [
    path("v1/", include("core.urls")),
    *version_redirect_patterns(),
]
