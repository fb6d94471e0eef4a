"""The engine's HTTP layer: base view, resource viewsets, batch, utility endpoints,
redirects, middleware and the URL configuration (`include("kinto_django.core.urls")`)."""
