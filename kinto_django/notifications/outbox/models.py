"""The outbox of the durable listeners (Redis queues, webhooks) and the dispatcher's lease.

An `OutboxEntry` is written by every write, for every durable listener that wants it, in the
transaction of the write (see `outbox.entries`): a committed change always has its entries
and a rolled-back one never does. The dispatcher (`outbox.dispatcher`) reads them back,
merges the entries of one event, delivers it and marks the entries delivered.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from kinto_django.core.models import StoredJSONField


class OutboxQuerySet(models.QuerySet):
    """Queries of the dispatcher and of the metrics."""

    def pending(self) -> OutboxQuerySet:
        return self.filter(delivered_at__isnull=True)

    def of_listener(self, name: str) -> OutboxQuerySet:
        return self.filter(listener=name)


class OutboxEntry(models.Model):
    """One write as one durable listener will receive it.

    The entries of one request sharing (resource type, parent, action) form one event, as the
    change events are merged (spec/09): they share `event_id` and the `payload` of its first
    occurrence, and each holds the impacted objects of its own write. `scope` is the parent's
    URI (a collection for records, a bucket for collections and groups, empty for buckets and
    accounts): events of one scope are delivered in order, one after the other.
    """

    id = models.BigAutoField(primary_key=True)
    listener = models.CharField(max_length=100)
    scope = models.TextField()
    event_id = models.UUIDField()
    payload = StoredJSONField()
    impacted = StoredJSONField()
    created_at = models.DateTimeField()
    # Failed deliveries so far, when the next one may be tried, and why the last one failed.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True)
    last_error = models.TextField(default="", blank=True)
    delivered_at = models.DateTimeField(null=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        db_table = "kinto_notifications_outbox"
        indexes = [
            # The oldest undelivered entry of each scope, and a scope's entries in order.
            models.Index(
                fields=["listener", "scope", "id"],
                condition=Q(delivered_at__isnull=True),
                name="kinto_outbox_pending",
            ),
            models.Index(
                fields=["event_id"],
                condition=Q(delivered_at__isnull=True),
                name="kinto_outbox_pending_event",
            ),
            # Pruning delivered entries past their retention.
            models.Index(
                fields=["delivered_at"],
                condition=Q(delivered_at__isnull=False),
                name="kinto_outbox_delivered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.listener} {self.payload.get('action')} {self.scope} #{self.id}"


class DispatcherLease(models.Model):
    """Who delivers: one row, held by one dispatcher until `expires_at` and renewed while it
    works, so that several dispatchers (server processes, `kinto_dispatch_events` commands) never
    deliver at once and a crashed one is replaced once its lease runs out."""

    name = models.CharField(max_length=50, primary_key=True)
    owner = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "kinto_notifications_lease"

    def __str__(self) -> str:
        return f"{self.name} held by {self.owner} until {self.expires_at}"
