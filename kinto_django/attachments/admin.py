"""Attachments in the Django admin: a link to the file on each record, and the files this
server stored (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from kinto_django.attachments.models import StoredFile
from kinto_django.core.admin.resources import ResourceAdmin
from kinto_django.records.models import Record


def attachment_link(attachment: object) -> str:
    if not isinstance(attachment, dict) or not isinstance(attachment.get("location"), str):
        return "-"
    location = attachment["location"]
    if not location.startswith(("http://", "https://", "/")):
        return str(attachment.get("filename") or location)
    label = f"{attachment.get('filename') or location} ({attachment.get('size', '?')} bytes)"
    return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', location, label)


class RecordWithAttachmentAdmin(ResourceAdmin):
    """The records' admin, with a column and a field linking to the attached file."""

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        return (*super().get_list_display(request), "attachment")

    def get_fields(self, request: HttpRequest, obj: Record | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        return fields if obj is None else [*fields, "attachment"]

    def get_readonly_fields(self, request: HttpRequest, obj: Record | None = None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if obj is None else (*readonly, "attachment")

    @admin.display(description="attachment")
    def attachment(self, obj: Record) -> str:
        return attachment_link(obj.data.get("attachment") if not obj.deleted else None)


if admin.site.is_registered(Record):
    admin.site.unregister(Record)
admin.site.register(Record, RecordWithAttachmentAdmin)


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    """The ledger of stored files (read-only: files change through the API)."""

    list_display = ("name", "uri", "size", "created")
    search_fields = ("name", "uri", "sha256")
    readonly_fields = ("name", "uri", "size", "sha256", "created")
    exclude = ("record",)
    ordering = ("-created",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
