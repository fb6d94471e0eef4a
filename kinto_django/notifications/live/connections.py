"""A live client, whatever its transport, and its subscriptions: what the hub delivers to.

A connection's messages wait in a queue bounded in messages and in bytes, that its transport
drains: a client too slow to read is disconnected rather than held in memory (it resumes with
`since`). A subscription resuming after a timestamp holds live changes back while its replay
runs, and drops those the replay already sent. Changes are encoded once per event, whatever
the number of subscribers: a queued change is its subscription's prefix and the shared body,
joined only when sent, so that a body counts once per connection however many of its
subscriptions it goes to.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
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


# What a waiting message costs besides its body (its tuple and queue slot), in bytes.
MESSAGE_OVERHEAD = 128


class SendQueue:
    """The messages waiting for one client, bounded by `live_send_queue_size` messages and
    `live_send_queue_bytes` bytes.

    A message is `(prefix, body, timestamp)`: with a prefix, its text is the prefix and the
    body minus its `{` (see `subscription_prefix`). A body shared by several waiting
    messages (one change, several subscriptions) is counted once. Bodies held elsewhere for
    the client (a replay's buffer, `hold`) count against the same budget. A message that
    alone exceeds the budget still goes through an empty queue.
    """

    def __init__(self) -> None:
        self.messages: deque[tuple[str, str, int | None]] = deque()
        self.bytes = 0
        self.max_messages = notification_settings.live_send_queue_size
        self.max_bytes = notification_settings.live_send_queue_bytes
        self._bodies: dict[int, int] = {}  # id(body) -> references waiting or held
        self._readable = asyncio.Event()
        self._room = asyncio.Event()

    def __len__(self) -> int:
        return len(self.messages)

    def cost(self, body: str) -> int:
        """What one more reference to `body` adds to the queue's bytes."""
        return MESSAGE_OVERHEAD + (0 if id(body) in self._bodies else sys.getsizeof(body))

    def fits(self, body: str, count: int = 1) -> bool:
        """Whether a message (or a held body) is within the bounds."""
        if not self.messages and not self._bodies:
            return True
        return (
            len(self.messages) + count <= self.max_messages
            and self.bytes + self.cost(body) <= self.max_bytes
        )

    def hold(self, body: str) -> None:
        """Count a body waiting outside the queue."""
        self.bytes += self.cost(body)
        self._bodies[id(body)] = self._bodies.get(id(body), 0) + 1

    def release(self, body: str) -> None:
        """A body counted by `hold` (or a sent message's) is no longer held."""
        if id(body) not in self._bodies:  # forgotten by `clear`
            return
        references = self._bodies[id(body)] - 1
        self.bytes -= MESSAGE_OVERHEAD
        if references:
            self._bodies[id(body)] = references
        else:
            del self._bodies[id(body)]
            self.bytes -= sys.getsizeof(body)
        self._room.set()

    def put_nowait(self, prefix: str, body: str, timestamp: int | None) -> bool:
        """Queue a message; False (and nothing queued) when it does not fit."""
        if not self.fits(body):
            return False
        self.hold(body)
        self.messages.append((prefix, body, timestamp))
        self._readable.set()
        return True

    async def put(self, prefix: str, body: str, timestamp: int | None) -> None:
        """Queue a message, waiting for room."""
        while not self.put_nowait(prefix, body, timestamp):
            self._room.clear()
            await self._room.wait()

    async def get(self) -> tuple[str, int | None]:
        """The next message's text and timestamp, waiting for one."""
        while not self.messages:
            self._readable.clear()
            await self._readable.wait()
        prefix, body, timestamp = self.messages.popleft()
        self.release(body)
        return (prefix + body[1:] if prefix else body), timestamp

    def clear(self) -> None:
        """Forget every waiting message (the client is gone or disconnected)."""
        self.messages.clear()
        self._bodies.clear()
        self.bytes = 0
        self._room.set()


class LiveConnection:
    """One client (a WebSocket or an event stream) and its subscriptions.

    Messages go through a bounded queue drained by the transport: a client too slow to read
    them is disconnected (`overflowed`) rather than held in memory; it resumes with `since`.
    """

    def __init__(self, identity: permissions.Identity, address: str | None = None) -> None:
        self.identity = identity
        self.address = address
        self.subscriptions: dict[str, Subscription] = {}
        self.queue = SendQueue()
        self.overflowed = False

    @property
    def owner(self) -> tuple[str, str | None]:
        """Whose connection this is, for `live_max_connections_per_user`: the user, or the
        client's address when anonymous."""
        if self.identity.authenticated:
            return ("user", self.identity.user_id)
        return ("address", self.address)

    def push(self, message: str, timestamp: int | None = None, prefix: str = "") -> None:
        """Queue a message without waiting (with a prefix, a change's shared body); a full
        queue marks the client as too slow."""
        if not self.overflowed and not self.queue.put_nowait(prefix, message, timestamp):
            self.overflow()

    async def push_wait(
        self, message: str, timestamp: int | None = None, prefix: str = ""
    ) -> None:
        """Queue a replayed message, waiting for room: the replay follows the client's pace."""
        if not self.overflowed:
            await self.queue.put(prefix, message, timestamp)

    def overflow(self) -> None:
        """The client reads too slowly: drop what waits for it (it resumes with `since`),
        and let the transport close the connection."""
        self.overflowed = True
        for subscription in self.subscriptions.values():
            subscription.buffer.clear()
        self.queue.clear()
        self.on_overflow()

    def release_memory(self) -> None:
        """The connection ended: nothing it held stays."""
        for subscription in self.subscriptions.values():
            subscription.close()
        self.queue.clear()

    def on_overflow(self) -> None:
        """Called once when the queue is full: the transport closes the connection."""

    def on_revoked(self) -> None:
        """The caller's credentials ended (password changed, account deleted): the
        transport closes the connection."""

    def on_feed_lost(self) -> None:
        """Changes may have been lost on their way (the channel layer failed): the transport
        closes the connection, and the client resumes from the database."""


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
        connection = self.connection
        if connection.overflowed:
            return
        if self.replaying:
            # Held against the connection's budget, as if queued.
            if not connection.queue.fits(body, len(self.buffer) + 1):
                connection.overflow()
                return
            connection.queue.hold(body)
            self.buffer.append((timestamp, body))
            return
        connection.push(body, timestamp, self.prefix)

    def close(self) -> None:
        """No more changes for this subscription: what its replay buffered is dropped."""
        self.closed = True
        for _, body in self.buffer:
            self.connection.queue.release(body)
        self.buffer.clear()

    def end_replay(self, last_replayed: int | None) -> None:
        """Switch to live: send the buffered changes the replay did not already send."""
        if last_replayed is not None:
            self.cursor = max(self.cursor or 0, last_replayed)
        buffered, self.buffer = self.buffer, []
        self.replaying = False
        for timestamp, body in buffered:
            self.connection.queue.release(body)
            self.offer(timestamp, body)
