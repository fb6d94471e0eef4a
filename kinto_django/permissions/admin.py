"""The ACL entries and group memberships, read-only: they change through the Kinto objects (an
object's `permissions`, a group's `members`), which keep timestamps and events right."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from kinto_django.permissions.models import Grant, Membership


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Grant)
class GrantAdmin(ReadOnly):
    list_display = ("principal", "permission_name", "content_type", "object_pk")
    list_filter = ("content_type",)
    search_fields = ("principal",)
    search_help_text = "A principal, e.g. account:alice or /buckets/b/groups/g."
    list_select_related = ("permission", "content_type")
    show_full_result_count = False

    @admin.display(description="permission", ordering="permission__codename")
    def permission_name(self, obj: Grant) -> str:
        return obj.permission.codename


@admin.register(Membership)
class MembershipAdmin(ReadOnly):
    list_display = ("member", "group_uri")
    search_fields = ("member", "group_uri")
    show_full_result_count = False
