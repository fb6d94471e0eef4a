"""A live client, whatever its transport, and its subscriptions: what the hub delivers to.

A connection's messages wait in a bounded queue that its transport drains: a client too slow
to read is disconnected rather than held in memory (it resumes with `since`). A subscription
resuming after a timestamp holds live changes back while its replay runs, and drops those
the replay already sent. Changes are encoded once per event, whatever the number of
subscribers: each subscriber's message is its subscription prefix and the shared body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kinto_django import jsonutil
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.live.subscriptions import Target
from kinto_django.permissions import service as permissions


def change_body(change: dict[str, Any]) -> str:
    """A change message without its subscription id (added per subscriber)."""
    return jsonutil.dumps({"type": "change", **change}).decode()


def subscription_prefix(subscription_id: str) -> str:
    """`{"subscription": id,`: with a shared body (minus its `{`), a subscriber's message,
    so that an event is encoded once whatever the number of subscribers."""
    return '{"subscription":' + jsonutil.dumps(subscription_id).decode() + ","


# A queued message: its JSON text and, for a change, its timestamp (an event stream's id).
Outgoing = tuple[str, int | None]


class LiveConnection:
    """One client (a WebSocket or an event stream) and its subscriptions.

    Messages go through a bounded queue drained by the transport: a client too slow to read
    them is disconnected (`overflowed`) rather than held in memory; it resumes with `since`.
    """

    def __init__(self, identity: permissions.Identity) -> None:
        self.identity = identity
        self.subscriptions: dict[str, Subscription] = {}
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue(
            notification_settings.live_send_queue_size
        )
        self.overflowed = False

    def push(self, message: str, timestamp: int | None = None) -> None:
        """Queue a message without waiting; a full queue marks the client as too slow."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait((message, timestamp))
        except asyncio.QueueFull:
            self.overflowed = True
            self.on_overflow()

    async def push_wait(self, message: str, timestamp: int | None = None) -> None:
        """Queue a replayed message, waiting for room: the replay follows the client's pace."""
        if not self.overflowed:
            await self.queue.put((message, timestamp))

    def on_overflow(self) -> None:
        """Called once when the queue is full: the transport closes the connection."""

    def on_revoked(self) -> None:
        """The caller's credentials ended (password changed, account deleted): the
        transport closes the connection."""


@dataclass(eq=False)
class Subscription:
    """A subscription of a connection, with its replay state.

    `cursor`: changes at or below it were sent (by the replay) or are known to the client
    (its `since`); None without resume. While `replaying`, live changes wait in `buffer`.
    """

    connection: LiveConnection
    id: str
    target: Target
    cursor: int | None = None
    replaying: bool = False
    closed: bool = False

    def __post_init__(self) -> None:
        self.buffer: list[tuple[int, str]] = []
        self.prefix = subscription_prefix(self.id)

    def offer(self, timestamp: int, body: str) -> None:
        """A live change for this subscription: skipped if already sent, buffered during
        the replay, queued otherwise."""
        if self.closed or (self.cursor is not None and timestamp <= self.cursor):
            return
        if self.replaying:
            if len(self.buffer) >= notification_settings.live_send_queue_size:
                self.connection.overflowed = True
                self.connection.on_overflow()
                return
            self.buffer.append((timestamp, body))
            return
        self.connection.push(self.prefix + body[1:], timestamp)

    def end_replay(self, last_replayed: int | None) -> None:
        """Switch to live: send the buffered changes the replay did not already send."""
        if last_replayed is not None:
            self.cursor = max(self.cursor or 0, last_replayed)
        buffered, self.buffer = self.buffer, []
        self.replaying = False
        for timestamp, body in buffered:
            self.offer(timestamp, body)
