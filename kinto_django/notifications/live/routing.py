"""The live endpoint as Channels routes, for a site to compose in its own ASGI application
beside its own consumers:

    application = ProtocolTypeRouter({
        "http": URLRouter([*http_urlpatterns, re_path(r"", http_application)]),
        "websocket": URLRouter([*websocket_urlpatterns, *the_sites_own_routes]),
        "lifespan": lifespan,
    })

* `websocket_urlpatterns`: `<api root>/changes` to the WebSocket consumer (`websocket`);
* `http_urlpatterns`: the same path to the event stream (`eventstream`), for requests that
  ask for `text/event-stream`; any other request goes on to the next route, the site's HTTP
  application (where the API answers a plain GET of `/changes` with how to subscribe);
* `lifespan`: attaches the publisher of committed events to the server's loop at start-up
  (the consumers attach it too, for servers without lifespan), stops the hub at shutdown.

`<api root>` is where the site's URLconf mounts the API (`/v1` on the standalone server,
`mounted_api_root()`), looked up when a request is routed. These routes match the whole
path: they belong in the outermost `URLRouter`. `application()` composes them for the common
case, as the standalone project does.

HTTP requests should go to the WSGI application through a thread pool
(`kinto_django.core.api.bridge.WSGIBridge`) rather than Django's ASGI handler, which runs
synchronous views one at a time per process (`thread_sensitive`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import URLPattern, re_path
from django.urls.exceptions import Resolver404

from kinto_django.core.api.locations import mounted_api_root
from kinto_django.notifications.live.eventstream import EventStreamConsumer, wants_event_stream
from kinto_django.notifications.live.hub import get_hub
from kinto_django.notifications.live.runtime import publisher
from kinto_django.notifications.live.websocket import ChangesConsumer
from kinto_django.notifications.outbox.dispatcher import stop_in_server

# The close code of a WebSocket to a path nothing serves (4000-4999 are the application's).
CLOSE_NOT_FOUND = 4404


def live_path() -> str:
    """The live endpoint, `changes` under wherever the site mounts the API (`/v1/changes`)."""
    return mounted_api_root() + "/changes"


class LivePathPattern:
    """A `URLRouter` pattern matching `live_path()`, looked up at each match rather than
    when the routes are built: a site's ASGI module builds them before anything has loaded
    its URLconf, and tests change it."""

    name = None

    def match(self, path: str) -> tuple[str, tuple, dict] | None:
        # URLRouter hands over the path without its leading slash.
        if path.endswith("changes") and "/" + path == live_path():
            return "", (), {}
        return None

    def check(self) -> list:
        return []

    def describe(self) -> str:
        return "'<api root>/changes'"

    __str__ = describe


_event_stream = EventStreamConsumer.as_asgi()


async def event_stream_or_next(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The event stream for a request that asks for one. Any other request goes on to the
    next route: `URLRouter` tries it when an application raises `Resolver404`, as when a
    nested router matches nothing."""
    if not wants_event_stream(scope):
        raise Resolver404({"path": scope["path"]})
    await _event_stream(scope, receive, send)


websocket_urlpatterns = [URLPattern(LivePathPattern(), ChangesConsumer.as_asgi())]
http_urlpatterns = [URLPattern(LivePathPattern(), event_stream_or_next)]


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Attach the publisher at start-up (before the first write), stop the hub at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            publisher.attach(asyncio.get_running_loop())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            with contextlib.suppress(Exception):
                await get_hub().stop()
            # Here, not at exit: uvicorn re-raises SIGTERM once shut down, and a process
            # killed by its signal runs no `atexit` handler.
            await asyncio.to_thread(stop_in_server)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def close_unrouted(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A WebSocket to a path nothing serves: closed before it is accepted (4404)."""
    await send({"type": "websocket.close", "code": CLOSE_NOT_FOUND})


def application(
    http_application: Any, websocket_routes: Sequence[URLPattern] = ()
) -> ProtocolTypeRouter:
    """A site's whole ASGI application in the common case: the live routes, the site's own
    `websocket_routes` beside them, every other HTTP request to `http_application`, and
    WebSockets to any other path closed with 4404."""
    return ProtocolTypeRouter(
        {
            "http": URLRouter([*http_urlpatterns, re_path(r"", http_application)]),
            "websocket": URLRouter(
                [*websocket_urlpatterns, *websocket_routes, re_path(r"", close_unrouted)]
            ),
            "lifespan": lifespan,
        }
    )
