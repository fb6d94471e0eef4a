"""The ids ACL names stand on: content types and auth permissions (cached per process)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models

from kinto_django.permissions.models import Grant, Membership

_permission_ids: dict[tuple[int, str], int] = {}


def clear_caches(**kwargs: Any) -> None:
    _permission_ids.clear()


def content_type_id(model: type[models.Model]) -> int:
    return ContentType.objects.get_for_model(model).id


def permission_ids(model: type[models.Model], codenames: Iterable[str]) -> dict[str, int]:
    """Ids of the auth permissions that name ACLs of `model` (cached per process)."""
    ct = content_type_id(model)
    wanted = list(codenames)
    missing = [c for c in wanted if (ct, c) not in _permission_ids]
    if missing:
        for pk, codename in Permission.objects.filter(
            content_type_id=ct, codename__in=missing
        ).values_list("id", "codename"):
            _permission_ids[(ct, codename)] = pk
    return {c: _permission_ids[(ct, c)] for c in wanted if (ct, c) in _permission_ids}


def permission_codenames(model: type[models.Model]) -> dict[int, str]:
    """ACL name of each auth permission id of `model` (cached per process)."""
    acl_names = getattr(model, "acl_names", ())
    return {pk: codename for codename, pk in permission_ids(model, acl_names).items()}


def grant_table() -> str:
    return connection.ops.quote_name(Grant._meta.db_table)


def membership_table() -> str:
    return connection.ops.quote_name(Membership._meta.db_table)


def any_of(column: str, values: list[str], vendor: str | None = None) -> tuple[str, Any]:
    """A condition `column` is one of `values`, with one bound parameter however many there
    are (SQLite binds a limited number of parameters)."""
    if (vendor or connection.vendor) == "postgresql":
        return f"{column} = ANY(%s)", list(values)
    return f"{column} IN (SELECT value FROM json_each(%s))", json.dumps(list(values))
