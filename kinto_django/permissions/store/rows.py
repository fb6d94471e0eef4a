"""The rows principals and ACL names stand on: users and groups named after principals, and
the ids of content types and permissions (cached per process)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermission, UserObjectPermission

_permission_ids: dict[tuple[int, str], int] = {}


def clear_caches(**kwargs: Any) -> None:
    _permission_ids.clear()


def is_group_principal(principal: str) -> bool:
    """`system.*` principals and group URIs are Django groups; anything else is a user."""
    return principal.startswith("system.") or principal.startswith("/")


def is_user_principal(username: str) -> bool:
    """Whether a user row stands for a Kinto user id (`<policy>:<id>`): Django's username
    validators refuse `:`, so a site's own users never look like one."""
    return ":" in username


def username_field() -> str:
    return get_user_model().USERNAME_FIELD


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


def ensure_principals(principals: Iterable[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Row ids of the users and groups standing for these principals, creating the missing
    ones (usually they all exist: one query)."""
    principals = set(principals)
    user_names = sorted(p for p in principals if not is_group_principal(p))
    group_names = sorted(p for p in principals if is_group_principal(p))
    User = get_user_model()
    field = username_field()
    users = _existing_rows(User, field, user_names)
    groups = _existing_rows(Group, "name", group_names)
    missing_users = [name for name in user_names if name not in users]
    missing_groups = [name for name in group_names if name not in groups]
    if missing_users:
        User.objects.bulk_create(
            [User(**{field: name}) for name in missing_users], ignore_conflicts=True
        )
        users.update(_existing_rows(User, field, missing_users))
    if missing_groups:
        Group.objects.bulk_create(
            [Group(name=name) for name in missing_groups], ignore_conflicts=True
        )
        groups.update(_existing_rows(Group, "name", missing_groups))
    # A conflict other than a concurrent insert of the same name (another unique field of
    # the user model) skips the row without an error: the grant would be lost silently.
    unstored = [name for name in user_names if name not in users]
    unstored += [name for name in group_names if name not in groups]
    if unstored:
        raise PrincipalNotStored(unstored)
    return users, groups


class PrincipalNotStored(RuntimeError):
    """A principal could not be stored (see system check `kinto_permissions.E002`): the
    write that grants it fails (500, rolled back) rather than dropping the grant."""

    def __init__(self, principals: list[str]) -> None:
        super().__init__(
            f"Could not store the principals {principals} as rows of "
            f"{get_user_model()._meta.label} or Group (kinto_permissions.E002)"
        )


def _existing_rows(model: type[models.Model], field: str, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    return dict(model.objects.filter(**{f"{field}__in": names}).values_list(field, "pk"))


def _principal_filters(
    user_id: str | None, group_principals: list[str]
) -> tuple[Q | None, Q | None]:
    user_q = Q(**{f"user__{username_field()}": user_id}) if user_id else None
    group_q = Q(group__name__in=group_principals) if group_principals else None
    return user_q, group_q


def _tables() -> dict[str, str]:
    """Table and column names of the ACL store (a host site may swap the user model)."""
    User = get_user_model()
    return {
        "uop": UserObjectPermission._meta.db_table,
        "gop": GroupObjectPermission._meta.db_table,
        "user": User._meta.db_table,
        "user_pk": User._meta.pk.column,
        "username": User._meta.get_field(username_field()).column,
        "group": Group._meta.db_table,
    }


def permission_codenames(model: type[models.Model]) -> dict[int, str]:
    """ACL name of each auth permission id of `model` (cached per process)."""
    acl_names = getattr(model, "acl_names", ())
    return {pk: codename for codename, pk in permission_ids(model, acl_names).items()}
