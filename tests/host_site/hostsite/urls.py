"""The host site's pages, its admin, and the storage API under `/api/storage/v1/`."""

from core import views
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/storage/v1/", include("kinto_django.core.urls")),
]
