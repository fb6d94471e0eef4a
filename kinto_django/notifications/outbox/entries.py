"""Writing the outbox: the durable listeners' share of every write, in its transaction.

`record_entries` receives `kinto_django.core.signals.resource_written`, sent by every action
inside the writing transaction, and inserts one entry per durable listener that wants the
write (one statement for all of them). The entries are therefore committed with the change, or rolled
back with it (a failed batch sub-request's entries vanish with its savepoint), and survive any
crash after the commit: the dispatcher delivers them at least once.

Events are merged as the change events are (spec/09): the writes of one request sharing
(resource type, parent, action) get the same `event_id` and the payload of the first one,
which the request's event collector already holds; the dispatcher delivers them as one
message. Without durable listeners a write costs nothing here; with some, one insert.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Count

from kinto_django.core.context import ActionContext
from kinto_django.core.events import EventCollector
from kinto_django.core.models import ResourceModel
from kinto_django.notifications.outbox.models import OutboxEntry
from kinto_django.notifications.outbox.sinks import configured_sinks

# The event id of each (type, parent, action) of a request, kept while its collector lives
# and forgotten once a transaction commits (a later transaction starts new events).
_event_ids: weakref.WeakKeyDictionary[EventCollector, dict[tuple[str, str, str], uuid.UUID]]
_event_ids = weakref.WeakKeyDictionary()

# Set after a commit that wrote entries: wakes the dispatcher thread of this process at once
# instead of at its next poll.
entries_committed = threading.Event()


def record_entries(
    sender: type[ResourceModel],
    ctx: ActionContext,
    action: str,
    parent: ResourceModel | None,
    objects: list[ResourceModel],
    impacted: list[dict[str, Any]],
    **kwargs: Any,
) -> None:
    """Receiver of `resource_written`: the outbox entries of one write."""
    sinks = [sink for sink in configured_sinks() if sink.wants(action, sender.resource_name)]
    if not sinks:
        return
    scope = parent.uri if parent is not None else ""
    merge_key = (sender.resource_name, scope, action)
    # The action queued its event just before telling us: the merged event's payload is
    # that of the first write of this request with the same key.
    payload = ctx.events.events[merge_key].payload
    event_ids = _event_ids.setdefault(ctx.events, {})
    event_id = event_ids.setdefault(merge_key, uuid.uuid4())
    now = datetime.now(UTC)
    OutboxEntry.objects.bulk_create(
        OutboxEntry(
            listener=sink.name,
            scope=scope,
            event_id=event_id,
            payload=payload,
            impacted=impacted,
            created_at=now,
        )
        for sink in sinks
    )
    transaction.on_commit(lambda: committed(ctx.events))


def committed(collector: EventCollector) -> None:
    _event_ids.pop(collector, None)
    entries_committed.set()


def backlog() -> dict[str, int]:
    """Undelivered events per listener name (listeners no longer configured included): what
    a metrics endpoint reports, one query."""
    rows = (
        OutboxEntry.objects.pending()
        .values("listener")
        .annotate(events=Count("event_id", distinct=True))
        .order_by("listener")
    )
    return {row["listener"]: row["events"] for row in rows}
