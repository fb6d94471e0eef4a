"""`<api root>/changes` over WebSocket: a Channels consumer speaking the messages of
`sessions`.

Messages are JSON objects with a `type`:

* client → server: `authenticate` (`authorization`), `subscribe` (`id`, `resource`,
  `filters`, `since`), `unsubscribe` (`id`);
* server → client: `hello`, `authenticated`, `subscribed`, `change`, `replayed`,
  `unsubscribed`, `error` (the HTTP API's error body under `error`).

Credentials come from the handshake's `Authorization` header (`handshake`) or an
`authenticate` message (browsers cannot set headers on a WebSocket). In a host site with
the `django` policy, the site's session cookie identifies its logged-in users too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from kinto_django import errors, jsonutil
from kinto_django.core.observability import metrics
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.live.handshake import (
    client_address,
    handshake_authorization,
    site_session_key,
)
from kinto_django.notifications.live.runtime import end_or_cut, publisher, run_db
from kinto_django.notifications.live.sessions import Session, error_message, identify, message

logger = logging.getLogger(__name__)

# WebSocket close codes (4000-4999 are the application's).
# The account's password changed or the account was deleted: authenticate again.
CLOSE_CREDENTIALS_ENDED = 4401
CLOSE_TOO_SLOW = 4008
CLOSE_DISABLED = 4404
# The user holds `live_max_connections_per_user` connections in this process already.
CLOSE_TOO_MANY_CONNECTIONS = 4029
# RFC 6455 "service restart": reconnect and resume with `since` (changes may have been lost
# on their way while Redis was unavailable).
CLOSE_RECONNECT = 1012
# RFC 6455: the server cannot serve now (its database is down); reconnect later.
CLOSE_TRY_AGAIN_LATER = 1013


class ChangesConsumer(AsyncWebsocketConsumer):
    """`/v1/changes` over WebSocket: one session, any number of subscriptions."""

    # No channel-layer channel per connection: the process's hub listens for all of them.
    channel_layer_alias = "kinto-live-unused"
    closing: asyncio.Task | None = None

    async def connect(self) -> None:
        if not notification_settings.live_enabled:
            await self.close(CLOSE_DISABLED)
            return
        publisher.attach(asyncio.get_running_loop())
        try:
            identity = await run_db(
                "connections",
                identify,
                handshake_authorization(self.scope),
                site_session_key(self.scope),
            )
        except Exception as exc:  # noqa: BLE001 - the database is down: 503, as over HTTP
            await self.deny(errors.as_kinto_error(exc))
            return
        try:
            self.session = TransportSession(identity, self, client_address(self.scope))
        except errors.KintoError as error:
            await self.accept()
            await self.refuse(error)
            return
        await self.accept()
        self.writer = asyncio.get_running_loop().create_task(self.write())
        self.session.push(message("hello", user_id=identity.user_id))

    async def write(self) -> None:
        while True:
            text, _ = await self.session.queue.get()
            await self.send(text_data=text)

    def close_too_slow(self) -> None:
        """Close with 4008 a client that reads too slowly; cut its connection if it has not
        taken the close frame within `CLOSE_GRACE_SECONDS` (it does not read at all)."""
        if self.closing is None:
            self.closing = asyncio.get_running_loop().create_task(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        self.writer.cancel()  # nothing more for this client
        await end_or_cut(self.close(CLOSE_TOO_SLOW), self.base_send)

    async def deny(self, error: errors.KintoError) -> None:
        """Refuse the handshake itself with the API's error response (a 503 with
        `Retry-After` while the database is down), where the server lets an application
        answer a handshake over HTTP; elsewhere, the error as a message, then close code 1013
        ("try again later")."""
        metrics.count_unavailable(error.cause)
        if "websocket.http.response" in self.scope.get("extensions", {}):
            headers = [(b"content-type", b"application/json")]
            headers += [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
            await self.base_send(
                {
                    "type": "websocket.http.response.start",
                    "status": error.status,
                    "headers": headers,
                }
            )
            await self.base_send(
                {"type": "websocket.http.response.body", "body": jsonutil.dumps(error.body())}
            )
            return
        await self.accept()
        await self.send(text_data=error_message(error))
        await self.close(CLOSE_TRY_AGAIN_LATER)

    async def refuse(self, error: errors.KintoError) -> None:
        """One connection too many for its user (429): say why, then close with 4029."""
        await self.send(text_data=error_message(error))
        await self.close(CLOSE_TOO_MANY_CONNECTIONS)

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
        except Exception as exc:  # noqa: BLE001 - the database or Redis is down: say so, stay up
            logger.exception("Live request failed")
            subscription = request.get("id") if isinstance(request, dict) else None
            cause = (
                errors.database_failure_cause(exc)
                if isinstance(exc, DatabaseError)
                else errors.CAUSE.LIVE_FEED
            )
            self.session.push(error_message(errors.service_unavailable(cause=cause), subscription))

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
            try:
                self.session.push(await self.session.authenticate(request.get("authorization")))
            except errors.KintoError as error:
                if error.status != 429:
                    raise
                await self.refuse(error)
        else:
            raise errors.invalid(
                "body", "type", "Should be one of subscribe, unsubscribe, authenticate"
            )


class TransportSession(Session):
    """A session whose overflow closes its WebSocket."""

    def __init__(self, identity: Any, consumer: ChangesConsumer, address: str | None) -> None:
        super().__init__(identity, address)
        self.consumer = consumer

    def on_overflow(self) -> None:
        self.consumer.close_too_slow()

    def on_revoked(self) -> None:
        asyncio.get_running_loop().create_task(self.consumer.close(CLOSE_CREDENTIALS_ENDED))

    def on_feed_lost(self) -> None:
        asyncio.get_running_loop().create_task(self.consumer.close(CLOSE_RECONNECT))
