"""Django's "Users" and "Groups" pages: the rows standing for Kinto principals (user ids
such as `account:alice`, `system.*`, group URIs) are read-only there. Their members and grants
change through the Kinto objects (a group's `members`, an object's `permissions`), which keep
timestamps and events right. A site's own users stay editable."""

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from kinto_django.permissions.store import is_group_principal, is_user_principal


class PrincipalAwareGroupAdmin(GroupAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        principal = obj is not None and is_group_principal(obj.name)
        return not principal and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        principal = obj is not None and is_group_principal(obj.name)
        return not principal and super().has_delete_permission(request, obj)


class PrincipalAwareUserAdmin(UserAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        principal = obj is not None and is_user_principal(obj.get_username())
        return not principal and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        principal = obj is not None and is_user_principal(obj.get_username())
        return not principal and super().has_delete_permission(request, obj)


User = get_user_model()
# Only over Django's own User page: a site with its own user admin keeps it as it is.
if admin.site.is_registered(User) and type(admin.site.get_model_admin(User)) is UserAdmin:
    admin.site.unregister(User)
    admin.site.register(User, PrincipalAwareUserAdmin)
if admin.site.is_registered(Group):
    admin.site.unregister(Group)
admin.site.register(Group, PrincipalAwareGroupAdmin)
