"""The ASGI application of a server with live push: `/v1/changes` as a WebSocket or an
event stream goes to the live consumers, everything else to the HTTP application.

HTTP requests should go to the WSGI application through a thread pool (as
`kinto_django.core.api.bridge` does) rather than Django's ASGI handler, which runs synchronous
views one at a time per process (`thread_sensitive`): see `kinto_project.asgi`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kinto_django.core.api.locations import mounted_api_root
from kinto_django.notifications.live.eventstream import EventStreamConsumer, wants_event_stream
from kinto_django.notifications.live.hub import get_hub
from kinto_django.notifications.live.runtime import publisher
from kinto_django.notifications.live.websocket import ChangesConsumer


def live_path() -> str:
    """The live endpoint, `changes` under wherever the site mounts the API (`/v1/changes`)."""
    return mounted_api_root() + "/changes"


def live_application(http_application: Any) -> Any:
    """Wrap the HTTP application with the live endpoint (and the ASGI lifespan)."""
    websocket = ChangesConsumer.as_asgi()
    event_stream = EventStreamConsumer.as_asgi()
    path = live_path()

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await lifespan(receive, send)
            return
        publisher.attach(asyncio.get_running_loop())
        if kind == "websocket":
            if scope["path"] != path:
                await send({"type": "websocket.close", "code": 4404})
                return
            await websocket(scope, receive, send)
            return
        if kind == "http" and scope["path"] == path and wants_event_stream(scope):
            await event_stream(scope, receive, send)
            return
        await http_application(scope, receive, send)

    return application


async def lifespan(receive: Any, send: Any) -> None:
    """Attach the publisher at start-up (before the first write), stop the hub at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            publisher.attach(asyncio.get_running_loop())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            with contextlib.suppress(Exception):
                await get_hub().stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
