"""The standalone server mounts the API at /v1/, the operators' Django admin at /admin/, and
redirects version-less paths to the API."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from kinto_django.core.urls import version_redirect_patterns

urlpatterns = [
    path("admin", RedirectView.as_view(url="/admin/")),
    path("admin/", admin.site.urls),
    path("v1/", include("kinto_django.core.urls")),
    *version_redirect_patterns(),
]
