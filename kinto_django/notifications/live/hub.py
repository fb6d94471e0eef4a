"""The per-process hub of live connections: one channel-layer channel per server process,
fanned out in memory to that process's subscribers.

A process joins the groups its subscriptions need (see `groups`), receives each event once
per group, decides once who may read its objects (`access.readers_of`: three queries, shared
by every subscriber), then matches and queues a message for each subscriber in memory, with
decisions cached per principal set. A thousand subscribers cost the same queries as one.

Subscribers resuming after a timestamp are fed in three steps that leave no gap and send no
duplicate: the subscription is registered (and its group joined) before the database is read,
so a change committed after the replay's reads is always heard live; live changes are
buffered during the replay; a change at or below the replay's last timestamp was in the
replay and is skipped (timestamps of one list are strictly increasing and committed in order,
see `kinto_django.core.timestamps`). Live changes of one list are delivered in timestamp
order even when their events arrive in another (`ListOrder`). The connections and their
subscriptions are in `connections`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer

from kinto_django import errors, jsonutil
from kinto_django.core.query.fields import project_fields
from kinto_django.core.timestamps import now_ms
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.live import groups
from kinto_django.notifications.live.access import (
    Readers,
    changes_at,
    committed_between,
    readers_of,
)
from kinto_django.notifications.live.connections import LiveConnection, Subscription, change_body
from kinto_django.notifications.live.matching import matches
from kinto_django.notifications.live.runtime import (
    publisher,
    release_idle_connections,
    run_db,
)
from kinto_django.permissions import service as permissions

logger = logging.getLogger(__name__)

# Events kept decided, for the other groups that bring the same event to this process: at
# most this many, holding at most these bytes of event text (the newest one is always kept).
DECIDED_EVENTS = 64
DECIDED_BYTES = 4 * 1024 * 1024
# Timestamps of late changes remembered per list, so that their events are not delivered twice.
MAX_RECOVERED = 1024
# Seconds between two attempts to reach the channel layer again after it failed.
LAYER_RETRY_SECONDS = 1.0
# How often the connections' thread pool, when idle, gives its database connections back.
IDLE_CONNECTIONS_SECONDS = 10.0


@dataclass
class DecidedEvent:
    """An event with its objects' readers, and each object's message body per `_fields`."""

    payload: dict[str, Any]
    objects: list[dict[str, Any]]
    readers: Readers
    size: int = 0  # the length of the event's text: what caching it costs, roughly
    # Fields added to each change message (`replayed` for changes read back from the
    # database, whose action is only `update` or `delete`).
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bodies: dict[tuple[int, tuple[str, ...] | None], str] = {}
        self.decisions: dict[tuple[str, ...], list[bool]] = {}
        self.timestamps = [obj["last_modified"] for obj in self.objects]

    @property
    def list_key(self) -> tuple[str, int] | None:
        """The list (type, parent) whose timestamps order this event's changes."""
        if self.readers.parent_key is None:
            return None
        return (self.payload["resource_name"], self.readers.parent_key)

    def allowed(self, identity: permissions.Identity) -> list[bool]:
        """Which objects the caller may read, decided once per principal set."""
        decided = self.decisions.get(identity.principals)
        if decided is None:
            decided = [self.readers.allows(identity, i) for i in range(len(self.objects))]
            self.decisions[identity.principals] = decided
        return decided

    def body(self, index: int, fields: list[str] | None) -> str:
        """An object's change message (without subscription), encoded once per `_fields`."""
        key = (index, tuple(fields) if fields is not None else None)
        body = self.bodies.get(key)
        if body is None:
            obj = self.objects[index]
            data = project_fields(obj, fields) if fields is not None else obj
            payload = self.payload
            change = {
                "action": payload["action"],
                "resource_name": payload["resource_name"],
                **{k: payload[k] for k in ("bucket_id", "collection_id") if k in payload},
                "id": obj["id"],
                "timestamp": obj["last_modified"],
                "data": data,
                **self.extra,
            }
            if payload["resource_name"] == "bucket":
                change["bucket_id"] = obj["id"]
            elif payload["resource_name"] == "collection":
                change["collection_id"] = obj["id"]
            body = self.bodies[key] = change_body(change)
        return body


def decide(event_text: str) -> DecidedEvent:
    """Parse a broadcast event and read who may see its objects (database, in a thread)."""
    event = jsonutil.loads_stored(event_text)
    payload, impacted = event["payload"], event["impacted"]
    objects = [item["new"] for item in impacted]
    return DecidedEvent(payload, objects, readers_of(payload, impacted), len(event_text))


def recover(payload: dict[str, Any], list_key: tuple[str, int], timestamps: list[int]) -> list:
    """Changes of a list whose events did not come in time, read back from the database as
    events of one object each (in a thread): their readers decided as for any event."""
    objects = changes_at(*list_key, timestamps)
    scope = {
        k: payload[k] for k in ("resource_name", "bucket_id", "collection_id") if k in payload
    }
    readers = readers_of(scope, [{"new": obj} for obj in objects])  # once for all of them
    return [
        DecidedEvent(
            {**scope, "action": "delete" if obj.get("deleted") else "update"},
            [obj],
            Readers(readers.resource_name, [granted], readers.parent_key),
            extra={"replayed": True},
        )
        for obj, granted in zip(objects, readers.granted, strict=True)
    ]


@dataclass
class Parked:
    """An event held back until the changes committed before it in its list have arrived."""

    event: DecidedEvent
    missing: set[int]
    deadline: float


@dataclass
class ListOrder:
    """Delivers one list's changes in timestamp order, within one group's stream.

    Timestamps of a list are committed in order, but the events of two writes committed
    a moment apart (by two threads or processes) may reach the channel layer in the other
    order. An event whose first timestamp is above the last one delivered (for the list's
    first event, above the time this process joined the group) is checked against the
    database: changes committed in between whose events have not arrived yet
    hold it back until they do (or for `live_order_wait_seconds`, should one never come).
    So a client that resumes with the last timestamp it received cannot skip a change.
    """

    delivered: int | None = None
    parked: list[Parked] = field(default_factory=list)
    # Timestamps delivered from the database because their event was late: the event, if it
    # comes after all, is not delivered again.
    recovered: set[int] = field(default_factory=set)

    def waiting_for(self) -> set[int]:
        return {t for parked in self.parked for t in parked.event.timestamps}


class Hub:
    """The subscriptions of this process's live connections, bound to one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.local: dict[str, set[Subscription]] = {}
        self.connections: set[LiveConnection] = set()
        self.joined: set[str] = set()
        self.lock = asyncio.Lock()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.decided: OrderedDict[str, DecidedEvent] = OrderedDict()
        self.decided_bytes = 0
        self.orders: dict[tuple[str, tuple[str, int]], ListOrder] = {}
        # When this process joined each group (ms): a list's first event heard since then is
        # checked for changes committed after it that have not arrived yet.
        self.joined_at: dict[str, int] = {}
        self.tasks: list[asyncio.Task] = []
        # Cleared when the layer failed, set again once every group is joined again: until
        # then Redis may have forgotten this process's groups (a restart), so a subscription
        # could miss changes while its client believes it follows them.
        self.feed_up = asyncio.Event()
        self.feed_up.set()
        self.rejoining: asyncio.Task | None = None

    async def start(self) -> None:
        """Open this process's channel and start listening (once it succeeded: a start that
        failed, the layer being down, is tried again by the next subscription)."""
        async with self.lock:
            if self.tasks:
                return
            if self.channel is None:
                self.channel = await self.layer.new_channel("kinto.live.")
            for group in (groups.MEMBERSHIP, groups.CREDENTIALS):
                await self.layer.group_add(group, self.channel)
                self.joined.add(group)
            publisher.on_failure = self.feed_lost
            self.tasks = [
                self.loop.create_task(self._receive()),
                self.loop.create_task(self._process()),
                self.loop.create_task(self._refresh_groups()),
                self.loop.create_task(self._release_overdue()),
                self.loop.create_task(self._release_idle_connections()),
            ]

    async def stop(self) -> None:
        """Stop listening (server shutdown)."""
        if self.rejoining is not None:
            self.tasks.append(self.rejoining)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []

    async def _receive(self) -> None:
        # Received messages are queued here so that the layer is always read promptly (its
        # channel has a bounded capacity), whatever the time deciding events takes.
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a layer outage: retry, do not die
                logger.exception("Live hub: receiving from the channel layer failed")
                self.feed_lost()
                await self.feed_up.wait()
                continue
            self.inbox.put_nowait(message)

    def feed_lost(self) -> None:
        """The channel layer failed (Redis down): changes written meanwhile may never come.
        Every live connection of this process is closed so that its client reconnects and
        resumes with `since` (or `Last-Event-ID`), reading what it missed from the database,
        rather than wait, connected, for changes that will not arrive. Subscribing is
        refused (503) until the groups are joined again."""
        self.feed_up.clear()
        if self.rejoining is None or self.rejoining.done():
            self.rejoining = self.loop.create_task(self.rejoin())
        for connection in list(self.connections):
            connection.on_feed_lost()

    async def rejoin(self) -> None:
        """Join this process's groups again once the layer answers (a restarted Redis has
        forgotten them), trying every `LAYER_RETRY_SECONDS`; then accept subscriptions."""
        while True:
            await asyncio.sleep(LAYER_RETRY_SECONDS)
            if await self.join_all():
                logger.info("Live hub: the channel layer is back; groups joined again")
                self.feed_up.set()
                return

    async def _process(self) -> None:
        while True:
            message = await self.inbox.get()
            try:
                await self.handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad event must not stop the stream
                logger.exception("Live hub: delivering an event failed")

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(notification_settings.live_group_refresh_seconds)
            await self.join_all()  # a layer outage must not end the refreshes

    async def join_all(self) -> bool:
        """(Re)join every group of this process (channel-layer memberships expire, and a
        restarted Redis forgets them); False, logged, if the layer failed."""
        try:
            for group in list(self.joined):
                await self.layer.group_add(group, self.channel)
        except Exception:  # noqa: BLE001 - the layer is down
            logger.warning("Live hub: joining the channel-layer groups failed", exc_info=True)
            return False
        return True

    async def handle(self, message: dict[str, Any]) -> None:
        """One message of the channel layer: a group's event, or a membership change."""
        group = message.get("group")
        if group == groups.MEMBERSHIP:
            await self.refresh_identities()
            return
        if group == groups.CREDENTIALS:
            self.revoke(set(message.get("revoked", ())))
            return
        subscriptions = [s for s in self.local.get(group, ()) if not s.closed]
        if not subscriptions:
            return
        event = self.decided.get(message["id"])
        if event is None:
            event = await run_db("hub", decide, message["event"])
            self.remember(message["id"], event)
        key = event.list_key
        if key is None:
            self.dispatch(group, event)
            return
        order = self.orders.setdefault((group, key), ListOrder())
        if order.recovered.issuperset(event.timestamps):
            order.recovered.difference_update(event.timestamps)
            return  # late: delivered from the database already
        first = min(event.timestamps)
        # Since the last change delivered, or for the list's first one since the group was
        # joined: changes committed in between must come first.
        since = order.delivered if order.delivered is not None else self.joined_at.get(group)
        if since is not None and first > since + 1:
            missing = await run_db("hub", committed_between, key[0], key[1], since, first)
            missing -= order.waiting_for()
            if missing or order.parked:
                deadline = self.loop.time() + notification_settings.live_order_wait_seconds
                order.parked.append(Parked(event, missing, deadline))
                order.parked.sort(key=lambda parked: min(parked.event.timestamps))
                self.release(group, order)
                return
        self.deliver(group, order, event)
        self.release(group, order)

    def remember(self, event_id: str, event: DecidedEvent) -> None:
        """Cache a decided event, forgetting the oldest beyond the cache's bounds."""
        self.decided[event_id] = event
        self.decided_bytes += event.size
        while len(self.decided) > 1 and (
            len(self.decided) > DECIDED_EVENTS or self.decided_bytes > DECIDED_BYTES
        ):
            _, old = self.decided.popitem(last=False)
            self.decided_bytes -= old.size

    def deliver(self, group: str, order: ListOrder, event: DecidedEvent) -> None:
        self.dispatch(group, event)
        order.delivered = max(order.delivered or 0, *event.timestamps)
        arrived = set(event.timestamps)
        for parked in order.parked:
            parked.missing -= arrived

    def release(self, group: str, order: ListOrder, now: float | None = None) -> None:
        """Deliver the held events whose wait is over, in timestamp order."""
        while order.parked and (
            not order.parked[0].missing or (now is not None and order.parked[0].deadline <= now)
        ):
            self.deliver(group, order, order.parked.pop(0).event)

    async def _release_idle_connections(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CONNECTIONS_SECONDS)
            release_idle_connections()

    async def _release_overdue(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = self.loop.time()
            for (group, key), order in list(self.orders.items()):
                if order.parked and order.parked[0].deadline <= now:
                    try:
                        await self.recover_missing(group, key, order)
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # noqa: BLE001 - the database is down: deliver in order
                        logger.exception("Live hub: reading late changes back failed")
                    self.release(group, order, now)

    async def recover_missing(self, group: str, key: tuple[str, int], order: ListOrder) -> None:
        """The changes an overdue event still waits for are committed (`committed_between`
        saw them) but their events are late, or lost with their sender: deliver them from
        the database first, so that the list's changes still arrive in timestamp order (a
        client resuming with the last timestamp it received skips none)."""
        parked = order.parked[0]
        if not parked.missing:
            return
        events = await run_db("hub", recover, parked.event.payload, key, sorted(parked.missing))
        for event in events:
            stamp = event.timestamps[0]
            if stamp in parked.missing:  # not arrived meanwhile
                order.recovered.add(stamp)
                self.deliver(group, order, event)
        if len(order.recovered) > MAX_RECOVERED:  # events lost for good: forget the oldest
            order.recovered = set(sorted(order.recovered)[-MAX_RECOVERED:])
        parked.missing.clear()  # what was not found is gone (deleted since, or changed again)

    def dispatch(self, group: str, event: DecidedEvent) -> None:
        """Queue the event's changes for the group's subscribers who may read them."""
        resource_name = event.payload["resource_name"]
        for subscription in [s for s in self.local.get(group, ()) if not s.closed]:
            target = subscription.target
            allowed = event.allowed(subscription.connection.identity)
            for index, obj in enumerate(event.objects):
                if not allowed[index] or not target.wants(resource_name, obj["id"]):
                    continue
                if target.filters and not matches(obj, target.filters):
                    continue
                subscription.offer(obj["last_modified"], event.body(index, target.fields))

    async def refresh_identities(self) -> None:
        """Group memberships changed somewhere: recompute the principals of every
        authenticated connection of this process (one query for all of them)."""
        user_ids = {c.identity.user_id for c in self.connections if c.identity.authenticated}
        if not user_ids:
            return
        identities = await run_db("hub", permissions.identities_for_user_ids, user_ids)
        for connection in self.connections:
            fresh = identities.get(connection.identity.user_id)
            if fresh is not None:
                connection.identity = fresh

    def revoke(self, user_ids: set[str]) -> None:
        """Close the connections authenticated as accounts whose credentials ended: a
        changed password or a deleted account must not keep receiving changes."""
        for connection in list(self.connections):
            if connection.identity.user_id in user_ids:
                connection.on_revoked()

    def admit(self, connection: LiveConnection) -> None:
        """Refuse a connection beyond `live_max_connections_per_user` of its owner in this
        process (429): each holds a send queue and subscriptions."""
        limit = notification_settings.live_max_connections_per_user
        owner = connection.owner
        held = sum(1 for c in self.connections if c is not connection and c.owner == owner)
        if held >= limit:
            raise errors.too_many_requests(
                f"At most {limit} live connections per user: close one first"
            )

    def connect(self, connection: LiveConnection) -> None:
        """Track an admitted connection (its principals are refreshed on group changes, it
        is closed when its credentials end); the hub listens from the first one on."""
        self.admit(connection)
        self.connections.add(connection)
        if not self.tasks:
            self.loop.create_task(self.start_early())

    async def start_early(self) -> None:
        """Start listening as a connection opens, before it subscribes (which would start
        it anyway, and answers 503 if the layer is down)."""
        try:
            await self.start()
        except Exception:  # noqa: BLE001 - the layer is down: the next subscription retries
            logger.warning("Live hub: the channel layer cannot be reached", exc_info=True)

    async def disconnect(self, connection: LiveConnection) -> None:
        """Forget a connection and its subscriptions (leaving groups nobody follows), and
        drop what was waiting for it."""
        self.connections.discard(connection)
        for subscription in list(connection.subscriptions.values()):
            await self.remove(subscription)
        connection.release_memory()

    async def add(self, subscription: Subscription) -> None:
        """Register a subscription; once this returns, every later broadcast reaches it."""
        await self.start()
        if not self.feed_up.is_set():
            raise errors.service_unavailable(
                "Live changes are unavailable, please retry later.", cause=errors.CAUSE.LIVE_FEED
            )
        group = subscription.target.group
        async with self.lock:
            if group not in self.joined:
                self.joined_at[group] = now_ms()
                await self.layer.group_add(group, self.channel)
                self.joined.add(group)
            self.local.setdefault(group, set()).add(subscription)

    async def remove(self, subscription: Subscription) -> None:
        """Stop a subscription; the group is left once no local subscription needs it."""
        subscription.close()
        group = subscription.target.group
        async with self.lock:
            members = self.local.get(group)
            if members is None:
                return
            members.discard(subscription)
            if not members:
                del self.local[group]
                self.joined.discard(group)
                self.joined_at.pop(group, None)
                for key in [key for key in self.orders if key[0] == group]:
                    del self.orders[key]
                await self.layer.group_discard(group, self.channel)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        hub = _hubs[loop] = Hub(loop)
    return hub
