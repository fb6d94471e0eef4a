"""The outbox of the durable listeners in the Django admin: read-only, with its backlog."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Min, QuerySet
from django.http import HttpRequest

from kinto_django.core.admin.forms import pretty_json
from kinto_django.core.admin.resources import ReadOnlyAdmin
from kinto_django.core.admin.search import search_json
from kinto_django.notifications.outbox.models import OutboxEntry


class DeliveryFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("failing", "Pending, failed before"), ("done", "Done")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "pending":
            return queryset.pending()
        if self.value() == "failing":
            return queryset.pending().filter(attempts__gt=0)
        if self.value() == "done":
            return queryset.filter(delivered_at__isnull=False)
        return queryset


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("id", "listener", "action", "uri", "created_at", "state", "attempts")
    list_filter = (DeliveryFilter, "listener")
    search_fields = ("scope",)
    search_help_text = "A scope (parent URI), or any text inside the event."
    ordering = ("-id",)
    show_full_result_count = False
    readonly_fields = fields = (
        "listener",
        "scope",
        "event_id",
        "created_at",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "delivered_at",
        "payload_display",
        "impacted_display",
    )

    @admin.display
    def action(self, entry: OutboxEntry) -> str:
        return entry.payload.get("action", "")

    @admin.display
    def uri(self, entry: OutboxEntry) -> str:
        return entry.payload.get("uri", "")

    @admin.display
    def state(self, entry: OutboxEntry) -> str:
        if entry.delivered_at is not None:
            return "delivered"
        return f"retrying ({entry.last_error[:80]})" if entry.attempts else "pending"

    @admin.display(description="payload")
    def payload_display(self, entry: OutboxEntry) -> str:
        return pretty_json(entry.payload)

    @admin.display(description="impacted objects")
    def impacted_display(self, entry: OutboxEntry) -> str:
        return pretty_json(entry.impacted)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        return search_json(queryset, search_term, "payload", "scope"), False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        """The backlog above the list: pending entries and the oldest one, per listener."""
        backlog = (
            OutboxEntry.objects.pending()
            .values("listener")
            .annotate(pending=Count("id"), oldest=Min("created_at"))
            .order_by("listener")
        )
        parts = [
            f"{row['listener']}: {row['pending']} pending since {row['oldest']:%Y-%m-%d %H:%M:%S} UTC"
            for row in backlog
        ]
        subtitle = "Backlog — " + ("; ".join(parts) if parts else "nothing pending")
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": subtitle})
