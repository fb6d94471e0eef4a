"""`/v1/changes` as seen by the plain HTTP stack: the live feed itself is served by the live
routes of the site's ASGI application (`live.routing`) before Django; what reaches Django is
explained here."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse

from kinto_django import errors
from kinto_django.core.api.base import ProtocolView


class ChangesView(ProtocolView):
    """A GET that is neither a WebSocket nor an event stream: say how to subscribe."""

    negotiate_accept = False

    def get(self, request: Any) -> HttpResponse:
        if "text/event-stream" in request.META.get("HTTP_ACCEPT", ""):
            # The live routes answer event streams; this server runs without them (WSGI, or
            # an ASGI application that does not route them).
            raise errors.KintoError(
                501,
                errors.ERRNO.UNDEFINED,
                "Live changes need the API's live routes in an ASGI application; this "
                "server answers plain HTTP only.",
            )
        raise errors.invalid(
            "header",
            "Accept",
            "Open a WebSocket, or GET with Accept: text/event-stream",
            status=406,
        )
