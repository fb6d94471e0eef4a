"""CORS: allowed origins and the headers a browser script may read."""

from __future__ import annotations

import fnmatch
from typing import Any

from django.http import HttpResponse

from kinto_django.conf import kinto_settings
from kinto_django.core.api.responses import ALWAYS_EXPOSED


def origin_allowed(origin: str | None) -> str | None:
    """The value of Access-Control-Allow-Origin for a request's `Origin`, if it is allowed."""
    if not origin:
        return None
    patterns = kinto_settings.cors_origins
    if "*" in patterns:
        return "*"
    if any(fnmatch.fnmatchcase(origin, pattern) for pattern in patterns):
        return origin
    return None


def exposed_headers(view: Any, method: str, response: HttpResponse) -> list[str]:
    """What a script may read: decided by the endpoint kind for resource endpoints (on errors
    too), else the common headers plus what the view asked for with `kinto_django.core.api.responses.expose`."""
    if view is not None and view.detail is not None:
        return list(view.exposed_headers(method))
    names = view.exposed_headers(method) if view is not None else ALWAYS_EXPOSED
    return list(dict.fromkeys([*names, *getattr(response, "kinto_expose", ())]))
