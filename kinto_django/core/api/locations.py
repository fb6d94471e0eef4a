"""Absolute URLs the API writes (`url`, `Next-Page`, `Location`): under wherever the site
mounts the API, behind proxies through the `http_scheme`/`http_host` settings."""

from __future__ import annotations

from django.http import HttpRequest

from kinto_django.conf import kinto_settings
from kinto_django.core.context import request_state


def mounted_api_root() -> str:
    """Where the site's URLconf mounts the API, without trailing slash: `/v1` on the
    standalone server, e.g. `/api/storage/v1` in a host site."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("kinto:root").rstrip("/")
    except NoReverseMatch:
        return "/v1"


def api_root(request: HttpRequest) -> str:
    """The path of the API root for this request, without trailing slash (e.g. `/v1`)."""
    state = request_state(request)
    if state.api_root is None:
        state.api_root = mounted_api_root()
    return state.api_root


DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def absolute_url(request: HttpRequest, path: str) -> str:
    """`scheme://host` + path, honouring the `http_scheme`/`http_host` settings (proxies);
    the scheme's default port is left out (`Host: example.com:80` gives `http://example.com`)."""
    scheme = kinto_settings.http_scheme or request.scheme
    host = kinto_settings.http_host or request.get_host()
    default_port = DEFAULT_PORTS.get(scheme)
    if default_port and host.endswith(default_port):
        host = host[: -len(default_port)]
    return f"{scheme}://{host}{path}"


def application_url(request: HttpRequest, path: str = "") -> str:
    """Absolute URL under the API root, honouring the `http_scheme`/`http_host` settings."""
    return absolute_url(request, api_root(request) + path)
