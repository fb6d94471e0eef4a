"""`<api root>/changes` as Server-Sent Events: a GET with `Accept: text/event-stream` holds
one subscription, on a Channels `AsyncHttpConsumer`.

`GET /v1/changes?resource=…&since=…&<filters>`: the subscription is checked before the
response starts, so its errors are the HTTP API's JSON error responses. Then each event's
`data:` is one message of `sessions` (`subscribed`, `change`, `replayed`, `error`); change
events carry `id: <timestamp>`, so a browser's `EventSource` resumes on its own with
`Last-Event-ID` (which takes the place of `since`). A comment every
`live_keepalive_seconds` keeps proxies from closing an idle stream; a client too slow to
read (its queue of `live_send_queue_size` messages full) sees the stream end and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qsl

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer

from kinto_django import errors, jsonutil
from kinto_django.core.observability import metrics
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.live.handshake import (
    client_address,
    cors_headers,
    header,
    site_session_key,
)
from kinto_django.notifications.live.runtime import end_or_cut, publisher, run_db
from kinto_django.notifications.live.sessions import Session, identify

SUBSCRIPTION_ID = "stream"
RETRY = b"retry: 1000\n\n"  # browsers reconnect after a second
KEEPALIVE = b": keep-alive\n\n"


def wants_event_stream(scope: dict[str, Any]) -> bool:
    """Whether an HTTP request asks for an event stream (anything else is the API's)."""
    return "text/event-stream" in header(scope, b"accept")


def sse_frame(text: str, timestamp: int | None) -> bytes:
    """One event: `id:` is a change's timestamp (browsers resume with `Last-Event-ID`)."""
    event_id = f"id: {timestamp}\n" if timestamp is not None else ""
    return f"{event_id}data: {text}\n\n".encode()


def stream_query(scope: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str]]:
    """`resource`, `since` (or `Last-Event-ID`) and the list filters of the query string."""
    resource = since = None
    filters: dict[str, str] = {}
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "resource":
            resource = value
        elif key == "since":
            since = value
        else:
            filters[key] = value
    return resource, header(scope, b"last-event-id") or since, filters


class StreamSession(Session):
    """A Server-Sent Events session: overflow ends its stream."""

    def __init__(self, identity: Any, consumer: EventStreamConsumer, address: str | None) -> None:
        super().__init__(identity, address)
        self.consumer = consumer

    def on_overflow(self) -> None:
        self.consumer.end_stream()

    def on_revoked(self) -> None:
        self.consumer.end_stream()

    def on_feed_lost(self) -> None:
        self.consumer.end_stream()


class EventStreamConsumer(AsyncHttpConsumer):
    """One subscription as Server-Sent Events, until the client goes or reads too slowly.

    `AsyncHttpConsumer` calls `handle` with the whole request, stops once it returns, and
    reads nothing from the client meanwhile. A stream must outlive `handle` and hear the
    client go: `handle` only opens the stream and starts its writer, and the consumer keeps
    receiving until `http.disconnect` (which the server also sends once the response ends).
    """

    # No channel-layer channel per connection: the process's hub listens for all of them.
    channel_layer_alias = "kinto-live-unused"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session: StreamSession | None = None
        self.writer: asyncio.Task | None = None
        self.ending: asyncio.Task | None = None

    async def http_request(self, message: dict[str, Any]) -> None:
        if "body" in message:
            self.body.append(message["body"])
        if message.get("more_body"):
            return
        try:
            await self.handle(b"".join(self.body))
        except BaseException:
            await self.disconnect()
            raise
        if self.writer is None:  # answered with an error: nothing to stream
            await self.disconnect()
            raise StopConsumer()

    async def handle(self, body: bytes) -> None:
        """Check the subscription: answer its error, or start the stream."""
        loop = asyncio.get_running_loop()
        publisher.attach(loop)
        resource, since, filters = stream_query(self.scope)
        try:
            identity = await run_db(
                "connections",
                identify,
                header(self.scope, b"authorization"),
                site_session_key(self.scope),
            )
            if not notification_settings.live_enabled:
                raise errors.url_not_found()
            session = self.session = StreamSession(identity, self, client_address(self.scope))
            await session.subscribe(
                SUBSCRIPTION_ID, resource, filters, since, location="querystring"
            )
        except Exception as exc:  # noqa: BLE001 - the database down is a 503, as over HTTP
            await self.send_error(errors.as_kinto_error(exc))
            return
        await self.send_headers(
            status=200,
            headers=[
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
                *cors_headers(self.scope),
            ],
        )
        self.writer = loop.create_task(self.write(session))
        if session.overflowed:  # too slow already, while the stream opened
            self.end_stream()

    async def write(self, session: StreamSession) -> None:
        """Send the session's messages as they come, a comment when there are none."""
        keepalive = notification_settings.live_keepalive_seconds
        await self.send_body(RETRY, more_body=True)
        while True:
            try:
                # Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that
                # comes as the message arrives, and a stream too slow would never end.
                async with asyncio.timeout(keepalive):
                    text, timestamp = await session.queue.get()
            except TimeoutError:
                chunk = KEEPALIVE
            else:
                chunk = sse_frame(text, timestamp)
            await self.send_body(chunk, more_body=True)

    def end_stream(self) -> None:
        """The client reads too slowly: end the response (it resumes from its last id).
        Before the stream has started, `handle` ends it once started."""
        if self.writer is not None and self.ending is None:
            self.ending = asyncio.get_running_loop().create_task(self.finish())

    async def finish(self) -> None:
        await self.stop()
        await end_or_cut(self.end_body(), self.base_send)

    async def end_body(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # the client may be gone already
            await self.send_body(b"", more_body=False)

    async def disconnect(self) -> None:
        await self.stop()
        if self.ending is not None:
            await self.ending

    async def stop(self) -> None:
        """Stop writing and forget the subscription (once)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.cancel()
            # The writer's own failure (a send to a connection gone) changes nothing here.
            await asyncio.gather(writer, return_exceptions=True)
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def send_error(self, error: errors.KintoError) -> None:
        """An error before the stream starts: the API's JSON error response."""
        metrics.count_unavailable(error.cause)
        headers = [(b"content-type", b"application/json"), *cors_headers(self.scope)]
        headers += [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
        await self.send_response(error.status, jsonutil.dumps(error.body()), headers=headers)
