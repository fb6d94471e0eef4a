"""Delivering the outbox: at least once, in order per scope, patiently, by one process.

The dispatcher runs as `manage.py kinto_dispatch_events` or as a thread of a server process
(`event_dispatcher_in_server`). Whichever runs, only the holder of the lease (one row of
`kinto_notifications_lease`, renewed while it works, taken over by another dispatcher once it
expires) delivers, so events are never sent twice at once nor out of order.

For each listener, each scope (a collection's records, a bucket's collections and groups, the
buckets and accounts) is a queue: its oldest undelivered event is delivered, and only then
the next one. A failed delivery is retried after `event_dispatcher_retry_min_seconds`,
doubled at each failure up to `event_dispatcher_retry_max_seconds`, and holds back only its
own scope; when the destination cannot be reached at all, that listener waits for the retry
before trying any other scope. An entry is marked delivered once its destination accepted
it: a crash in between means one more delivery of it, never a lost one. Delivered entries
are deleted after `event_outbox_retention_seconds`.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Min, Q, Subquery

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.observability import metrics
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.outbox.entries import entries_committed
from kinto_django.notifications.outbox.models import DispatcherLease, OutboxEntry
from kinto_django.notifications.outbox.sinks import DeliveryFailed, Sink, configured_sinks

logger = logging.getLogger(__name__)

LEASE_NAME = "dispatcher"
# Bounds of one pass, so that every listener and scope gets its turn and the lease is
# renewed often enough: scopes looked at per listener, events delivered per scope.
SCOPES_PER_PASS = 100
EVENTS_PER_SCOPE = 50
PRUNE_INTERVAL_SECONDS = 60.0
# Time allowed, beyond a delivery's own timeout, to mark it delivered before the lease ends.
LEASE_MARGIN_SECONDS = 2.0
MAX_ERROR_LENGTH = 1000
# How long a stopping server process waits for its dispatcher thread's delivery under way.
STOP_WAIT_SECONDS = 5.0


def as_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed delivery of an event: exponential from
    `event_dispatcher_retry_min_seconds`, capped at `event_dispatcher_retry_max_seconds`."""
    low = notification_settings.event_dispatcher_retry_min_seconds
    high = notification_settings.event_dispatcher_retry_max_seconds
    return min(high, low * 2 ** min(attempts - 1, 62))


def message(event_id: uuid.UUID, entries: list[OutboxEntry]) -> bytes:
    """The JSON delivered for one event: its id, the first write's payload and the impacted
    objects of all its writes, in order."""
    return jsonutil.dumps(
        {
            "id": str(event_id),
            "payload": entries[0].payload,
            "impacted_objects": [item for entry in entries for item in entry.impacted],
        }
    )


class LeaseLost(Exception):
    """Another dispatcher took the lease over (this one stalled past its expiry)."""


class Lease:
    """The right to deliver, held in the database by one dispatcher at a time."""

    def __init__(self, owner: str, clock: Callable[[], float]) -> None:
        self.owner = owner
        self.clock = clock
        self.expires = 0.0

    def hold(self, for_seconds: float = 0.0) -> bool:
        """Whether this dispatcher holds the lease for at least `for_seconds` more (taking
        or renewing it when needed)."""
        duration = max(notification_settings.event_dispatcher_lease_seconds, 2 * for_seconds)
        now = self.clock()
        if self.expires - now > max(duration / 2, for_seconds):
            return True
        until = now + duration
        taken = (
            DispatcherLease.objects.filter(name=LEASE_NAME)
            .filter(Q(owner=self.owner) | Q(expires_at__lt=as_datetime(now)))
            .update(owner=self.owner, expires_at=as_datetime(until))
        )
        if not taken:
            try:
                with transaction.atomic():
                    DispatcherLease.objects.create(
                        name=LEASE_NAME, owner=self.owner, expires_at=as_datetime(until)
                    )
            except IntegrityError:
                self.expires = 0.0
                return False
        self.expires = until
        return True

    def release(self) -> None:
        """Let another dispatcher take over at once (a clean shutdown)."""
        DispatcherLease.objects.filter(name=LEASE_NAME, owner=self.owner).update(
            expires_at=as_datetime(0)
        )
        self.expires = 0.0

    def forget(self) -> None:
        """Assume nothing after a database error: the next pass renews the lease first."""
        self.expires = 0.0


def lease_holder() -> DispatcherLease | None:
    return DispatcherLease.objects.filter(name=LEASE_NAME).first()


class Dispatcher:
    """Delivers the outbox to the configured listeners; see the module docstring."""

    def __init__(self, clock: Callable[[], float] = time.time, owner: str | None = None) -> None:
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = Lease(self.owner, clock)
        self.stopping = threading.Event()
        # Listeners whose destination was unreachable, and until when they wait.
        self.paused_until: dict[str, float] = {}
        self.next_prune = 0.0
        self.delivered = 0

    # --- loops ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """One pass over every listener: the number of events delivered (0 without the
        lease)."""
        self.delivered = 0
        if not self.lease.hold():
            return 0
        try:
            for sink in configured_sinks():
                if self.stopping.is_set():
                    break
                self.deliver_listener(sink)
        except LeaseLost:
            logger.info("Dispatcher lease lost to another dispatcher; delivery paused")
        else:
            self.prune()
        return self.delivered

    def drain(self) -> int:
        """Passes until one delivers nothing (what is due now is delivered, what waits for a
        retry is left): the events delivered."""
        total = 0
        while not self.stopping.is_set():
            delivered = self.run_once()
            total += delivered
            if not delivered:
                break
        return total

    def run_forever(self) -> None:
        """Deliver until `stop()`, waking up every `event_dispatcher_poll_seconds` or when
        this process commits new entries; database errors are logged and waited out."""
        try:
            while not self.stopping.is_set():
                # Cleared before the pass: a commit during it makes the wait below return.
                entries_committed.clear()
                try:
                    busy = self.run_once() > 0
                except Exception:  # noqa: BLE001 - a database restart must not end the loop
                    logger.exception("Event dispatcher pass failed; retrying")
                    self.lease.forget()
                    connection.close()
                    busy = False
                if busy:
                    continue
                close_old_connections()
                entries_committed.wait(notification_settings.event_dispatcher_poll_seconds)
        finally:
            self.release()

    def stop(self) -> None:
        self.stopping.set()
        entries_committed.set()

    def release(self) -> None:
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001 - shutting down; the lease then simply expires
            logger.warning("Could not release the dispatcher lease", exc_info=True)

    # --- delivery --------------------------------------------------------------------------

    def due_scopes(self, sink: Sink) -> list[str]:
        """Scopes whose oldest undelivered event may be tried now, oldest first."""
        now = as_datetime(self.clock())
        firsts = (
            OutboxEntry.objects.pending()
            .of_listener(sink.name)
            .values("scope")
            .annotate(first=Min("id"))
            .values("first")
        )
        return list(
            OutboxEntry.objects.filter(id__in=Subquery(firsts))
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("id")
            .values_list("scope", flat=True)[:SCOPES_PER_PASS]
        )

    def deliver_listener(self, sink: Sink) -> None:
        if self.paused_until.get(sink.name, 0.0) > self.clock():
            return
        for scope in self.due_scopes(sink):
            for _ in range(EVENTS_PER_SCOPE):
                if self.stopping.is_set():
                    return
                outcome = self.deliver_next(sink, scope)
                if outcome == "delivered":
                    self.delivered += 1
                    continue
                if outcome == "unreachable":
                    return
                break  # the scope is empty or waits for a retry

    def deliver_next(self, sink: Sink, scope: str) -> str:
        """Deliver the oldest undelivered event of a scope: `delivered`, `empty`, `waiting`
        (for its retry), `failed` or `unreachable`."""
        pending = OutboxEntry.objects.pending().of_listener(sink.name)
        head = pending.filter(scope=scope).order_by("id").values("event_id")[:1]
        entries = list(pending.filter(event_id=Subquery(head)).order_by("id"))
        if not entries:
            return "empty"
        first = entries[0]
        now = self.clock()
        if first.next_attempt_at is not None and first.next_attempt_at > as_datetime(now):
            return "waiting"
        if not self.lease.hold(for_seconds=sink.timeout + LEASE_MARGIN_SECONDS):
            raise LeaseLost
        attempt = first.attempts + 1
        try:
            sink.deliver(str(first.event_id), message(first.event_id, entries), attempt)
        except DeliveryFailed as failure:
            return self.postpone(sink, entries, attempt, failure)
        except Exception as error:  # noqa: BLE001 - a bug of one listener must not stop the others
            logger.exception("Listener %r failed unexpectedly", sink.name)
            failure = DeliveryFailed(f"{type(error).__name__}: {error}", unreachable=False)
            return self.postpone(sink, entries, attempt, failure)
        OutboxEntry.objects.filter(id__in=[entry.id for entry in entries]).update(
            delivered_at=as_datetime(self.clock())
        )
        metrics.EVENTS_DELIVERED.labels(sink.name).inc()
        self.paused_until.pop(sink.name, None)
        return "delivered"

    def postpone(
        self, sink: Sink, entries: list[OutboxEntry], attempt: int, failure: DeliveryFailed
    ) -> str:
        """Record a failed delivery and when to try again: `failed` or `unreachable`."""
        delay = retry_delay(attempt)
        OutboxEntry.objects.filter(id__in=[entry.id for entry in entries]).update(
            attempts=attempt,
            next_attempt_at=as_datetime(self.clock() + delay),
            last_error=str(failure)[:MAX_ERROR_LENGTH],
        )
        metrics.EVENT_DELIVERY_FAILURES.labels(sink.name).inc()
        logger.warning(
            "Listener %r: delivery %d of event %s failed (%s); next try in %.0f s",
            sink.name,
            attempt,
            entries[0].event_id,
            failure,
            delay,
        )
        if failure.unreachable:
            self.paused_until[sink.name] = self.clock() + delay
            return "unreachable"
        return "failed"

    def prune(self) -> None:
        """Delete delivered entries older than the retention, once a minute at most."""
        now = self.clock()
        if now < self.next_prune:
            return
        self.next_prune = now + PRUNE_INTERVAL_SECONDS
        retention = notification_settings.event_outbox_retention_seconds
        OutboxEntry.objects.filter(delivered_at__lt=as_datetime(now - retention)).delete()


# --- inside a server process ---------------------------------------------------------------

_server_dispatcher: Dispatcher | None = None
_server_thread: threading.Thread | None = None
_server_lock = threading.Lock()


def start_in_server(**kwargs: Any) -> None:
    """`request_started` receiver: with `event_dispatcher_in_server`, the first request of a
    server process starts its dispatcher thread (the lease keeps all but one idle)."""
    global _server_dispatcher, _server_thread
    if _server_dispatcher is not None or not notification_settings.event_dispatcher_in_server:
        return
    if kinto_settings.readonly:
        # A read-only node may run on a replica: the lease and the outbox are written by the
        # dispatchers of the nodes that write.
        return
    with _server_lock:
        if _server_dispatcher is not None:
            return
        _server_dispatcher = Dispatcher()
        _server_thread = threading.Thread(
            target=run_in_thread,
            args=(_server_dispatcher,),
            name="kinto-event-dispatcher",
            daemon=True,
        )
        _server_thread.start()
    atexit.register(stop_in_server)


def run_in_thread(dispatcher: Dispatcher) -> None:
    try:
        dispatcher.run_forever()
    finally:
        connection.close()


def stop_in_server() -> None:
    """At exit: finish the delivery under way and hand the lease over."""
    global _server_dispatcher, _server_thread
    with _server_lock:
        if _server_dispatcher is None or _server_thread is None:
            return
        _server_dispatcher.stop()
        _server_thread.join(timeout=STOP_WAIT_SECONDS)
        _server_dispatcher = _server_thread = None
