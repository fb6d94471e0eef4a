"""The live endpoint's transports: a WebSocket consumer (Channels) and a Server-Sent Events
stream, both speaking the messages of `sessions`.

WebSocket messages are JSON objects with a `type`:

* client → server: `authenticate` (`authorization`), `subscribe` (`id`, `resource`,
  `filters`, `since`), `unsubscribe` (`id`);
* server → client: `hello`, `authenticated`, `subscribed`, `change`, `replayed`,
  `unsubscribed`, `error` (the HTTP API's error body under `error`).

Credentials are never logged; they come from the handshake's `Authorization` header or an
`authenticate` message (browsers cannot set headers on a WebSocket), not from the URL, which
proxies and access logs record. In a host site with the `django` policy, the site's session
cookie identifies its logged-in users too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.api.middleware.cors import origin_allowed
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.live.runtime import run_db
from kinto_django.notifications.live.sessions import Session, error_message, identify, message

logger = logging.getLogger(__name__)

# WebSocket close codes (4000-4999 are the application's).
CLOSE_TOO_SLOW = 4008
CLOSE_DISABLED = 4404


def header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def site_session_key(scope: dict[str, Any]) -> str | None:
    """A host site's session cookie (the `django` policy), used only when the connection
    comes from the site's own pages: same origin as the request's host, or one of
    `CSRF_TRUSTED_ORIGINS`. Browsers attach cookies to any page's WebSocket, so a page of
    another site must not get a live connection as the user (as CSRF protects writes)."""
    if "django" not in kinto_settings.auth_policies:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(header(scope, b"cookie"))
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    origin = header(scope, b"origin")
    if origin:
        same_host = urlsplit(origin).netloc == header(scope, b"host")
        if not same_host and origin not in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
            return None
    return morsel.value


class ChangesConsumer(AsyncWebsocketConsumer):
    """`/v1/changes` over WebSocket: one session, any number of subscriptions."""

    # No channel-layer channel per connection: the process's hub listens for all of them.
    channel_layer_alias = "kinto-live-unused"

    async def connect(self) -> None:
        if not notification_settings.live_enabled:
            await self.close(CLOSE_DISABLED)
            return
        identity = await run_db(
            "connections",
            identify,
            header(self.scope, b"authorization"),
            site_session_key(self.scope),
        )
        self.session = TransportSession(identity, self)
        await self.accept()
        self.writer = asyncio.get_running_loop().create_task(self.write())
        self.session.push(message("hello", user_id=identity.user_id))

    async def write(self) -> None:
        while True:
            text, _ = await self.session.queue.get()
            await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        session = getattr(self, "session", None)
        if session is None:
            return
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer
        await session.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        request: Any = None
        try:
            try:
                request = jsonutil.loads(text_data if text_data is not None else bytes_data)
            except ValueError:
                raise errors.invalid("body", None, "Messages are JSON objects") from None
            if not isinstance(request, dict):
                raise errors.invalid("body", None, "Messages are JSON objects")
            await self.handle(request)
        except errors.KintoError as error:
            subscription = request.get("id") if isinstance(request, dict) else None
            self.session.push(error_message(error, subscription))
        except Exception:  # noqa: BLE001 - e.g. the database or Redis is down: say so, stay up
            logger.exception("Live request failed")
            subscription = request.get("id") if isinstance(request, dict) else None
            self.session.push(error_message(errors.service_unavailable(), subscription))

    async def handle(self, request: dict[str, Any]) -> None:
        kind = request.get("type")
        if kind == "subscribe":
            await self.session.subscribe(
                request.get("id"),
                request.get("resource"),
                request.get("filters"),
                request.get("since"),
            )
        elif kind == "unsubscribe":
            self.session.push(await self.session.unsubscribe(request.get("id")))
        elif kind == "authenticate":
            self.session.push(await self.session.authenticate(request.get("authorization")))
        else:
            raise errors.invalid(
                "body", "type", "Should be one of subscribe, unsubscribe, authenticate"
            )


class TransportSession(Session):
    """A session whose overflow closes its WebSocket."""

    def __init__(self, identity: Any, consumer: ChangesConsumer) -> None:
        super().__init__(identity)
        self.consumer = consumer

    def on_overflow(self) -> None:
        asyncio.get_running_loop().create_task(self.consumer.close(CLOSE_TOO_SLOW))


class StreamSession(Session):
    """A Server-Sent Events session: overflow ends the stream."""

    def __init__(self, identity: Any) -> None:
        super().__init__(identity)
        self.ended = asyncio.Event()

    def on_overflow(self) -> None:
        self.ended.set()


def wants_event_stream(scope: dict[str, Any]) -> bool:
    return "text/event-stream" in header(scope, b"accept")


def sse_frame(text: str, timestamp: int | None) -> bytes:
    """One event: `id:` is a change's timestamp (browsers resume with `Last-Event-ID`)."""
    event_id = f"id: {timestamp}\n" if timestamp is not None else ""
    return f"{event_id}data: {text}\n\n".encode()


async def event_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`GET /v1/changes?resource=…&since=…&<filters>` with `Accept: text/event-stream`: one
    subscription as Server-Sent Events. `Last-Event-ID` (sent by browsers on reconnection)
    takes the place of `since`."""
    params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    resource = since = None
    filters: dict[str, str] = {}
    for key, value in params:
        if key == "resource":
            resource = value
        elif key == "since":
            since = value
        else:
            filters[key] = value
    since = header(scope, b"last-event-id") or since
    identity = await run_db(
        "connections", identify, header(scope, b"authorization"), site_session_key(scope)
    )
    session = StreamSession(identity)
    try:
        try:
            if not notification_settings.live_enabled:
                raise errors.url_not_found()
            await session.subscribe("stream", resource, filters, since, location="querystring")
        except errors.KintoError as error:
            await send_error(send, error, scope)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *cors_headers(scope),
                ],
            }
        )
        writer = asyncio.get_running_loop().create_task(stream(session, send))
        disconnected = asyncio.get_running_loop().create_task(wait_disconnect(receive))
        ended = asyncio.get_running_loop().create_task(session.ended.wait())
        await asyncio.wait([writer, disconnected, ended], return_when=asyncio.FIRST_COMPLETED)
        for task in (writer, disconnected, ended):
            task.cancel()
        await asyncio.gather(writer, disconnected, ended, return_exceptions=True)
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await session.close()


async def stream(session: StreamSession, send: Any) -> None:
    keepalive = notification_settings.live_keepalive_seconds
    await send({"type": "http.response.body", "body": b"retry: 1000\n\n", "more_body": True})
    while True:
        try:
            # Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that comes as
            # the message arrives, and the stream of a client too slow never ended.
            async with asyncio.timeout(keepalive):
                text, timestamp = await session.queue.get()
        except TimeoutError:
            chunk = b": keep-alive\n\n"
        else:
            chunk = sse_frame(text, timestamp)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def cors_headers(scope: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """`Access-Control-Allow-Origin` for an allowed `Origin` (`cors_origins`), as the API's."""
    allowed = origin_allowed(header(scope, b"origin"))
    return [(b"access-control-allow-origin", allowed.encode())] if allowed else []


async def send_error(send: Any, error: errors.KintoError, scope: dict[str, Any]) -> None:
    """An error before the stream starts: the API's JSON error response."""
    body = jsonutil.dumps(error.body())
    headers = [(b"content-type", b"application/json"), *cors_headers(scope)]
    headers += [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
