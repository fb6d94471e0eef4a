"""Authorization at DRF's permission seam.

What a resource request needs depends on the object it addresses (create or replace, a 404 for
readers of the list, the object's own ACLs...), so routes decide nothing by themselves: views
ask for each `Access` through DRF's `check_object_permissions`, which calls
`ACLPermission.has_object_permission` and, on refusal, the view's `permission_denied` (401 for
anonymous callers, 403 otherwise). Views reach the caller as `view.identity`, computed once
per request by their authentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rest_framework.permissions import BasePermission

from kinto_django.conf import as_list, kinto_settings
from kinto_django.permissions import service


@dataclass(frozen=True)
class Access:
    """May the caller do `permission` (read, write, create…) on a `resource_name` object?

    `objects` maps the levels of its ancestry to instances (`{"bucket": b, "collection": c}`),
    the object itself included when it exists; `target` is that object when its own ACLs
    should be read by the same query (its response shows them).
    """

    resource_name: str
    permission: str
    objects: Mapping[str, Any]
    target: Any = None


class ACLPermission(BasePermission):
    """The stored ACLs and the `<type>_<perm>_principals` settings (spec/04), one query."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Access) -> bool:
        identity = view.identity
        target = obj.target
        if target is None or target.known_acls is not None:
            return service.has_permission(identity, obj.resource_name, obj.permission, obj.objects)
        granted, acls = service.permission_and_acls(
            identity, obj.resource_name, obj.permission, obj.objects
        )
        target.known_acls = acls
        return granted


def principals_setting(setting: str, default: list[str]) -> type[BasePermission]:
    """A permission class opening a route to the principals listed by a setting (e.g.
    `permissions_read_principals` for `GET /permissions`)."""

    class SettingPrincipals(BasePermission):
        def has_permission(self, request: Any, view: Any) -> bool:
            allowed = kinto_settings.get(setting, default, as_list)
            return not set(view.identity.principals).isdisjoint(allowed)

    SettingPrincipals.__name__ = SettingPrincipals.__qualname__ = f"Principals of {setting}"
    return SettingPrincipals
