"""History entries in the Django admin: read-only (see core/admin.py)."""

from django.contrib import admin

from kinto_django.core.admin.resources import ReadOnlyResourceAdmin
from kinto_django.history.models import HistoryEntry


@admin.register(HistoryEntry)
class HistoryEntryAdmin(ReadOnlyResourceAdmin):
    def get_list_display(self, request):
        return ("object_id", "parent_uri", "action", "uri", "user_id", "modified")

    @admin.display(ordering="data__action")
    def action(self, entry: HistoryEntry) -> str:
        return entry.data.get("action", "")

    @admin.display
    def uri(self, entry: HistoryEntry) -> str:
        return entry.data.get("uri", "")

    @admin.display(description="user id")
    def user_id(self, entry: HistoryEntry) -> str:
        return entry.data.get("user_id") or ""
