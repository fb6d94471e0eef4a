"""Django's "Groups" page: the groups standing for Kinto principals (`system.*`, group URIs)
are read-only there. Their members and grants change through the Kinto objects (a group's
`members`, an object's `permissions`), which keep timestamps and events right."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from permissions.store import is_group_principal


class PrincipalAwareGroupAdmin(GroupAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        principal = obj is not None and is_group_principal(obj.name)
        return not principal and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        principal = obj is not None and is_group_principal(obj.name)
        return not principal and super().has_delete_permission(request, obj)


if admin.site.is_registered(Group):
    admin.site.unregister(Group)
admin.site.register(Group, PrincipalAwareGroupAdmin)
