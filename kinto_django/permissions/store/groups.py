"""Group memberships (group URIs and `system.*` principals are Django groups), and the
removal of principals that stop existing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models
from django.db.models import Q
from guardian.models import GroupObjectPermission, UserObjectPermission

from kinto_django.permissions.store.rows import (
    _existing_rows,
    _tables,
    content_type_id,
    ensure_principals,
    username_field,
)


def group_principals_of(user_id: str, member_aliases: Iterable[str]) -> list[str]:
    """Names of the groups that list this user (or one of its aliases) as a member (runs on
    every authenticated request: one hand-written query)."""
    return group_principals_of_many([user_id], member_aliases)[user_id]


def group_principals_of_many(
    user_ids: Iterable[str], member_aliases: Iterable[str]
) -> dict[str, list[str]]:
    """`group_principals_of` for several users in one query: user id → group names (the
    groups listing an alias, such as `system.Authenticated`, count for every user)."""
    users = list(dict.fromkeys(user_ids))
    aliases = list(member_aliases)
    if not users:
        return {}
    names = [*users, *aliases]
    t = _tables()
    membership = get_user_model().groups.through._meta.db_table
    placeholders = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT u.{t['username']}, g.name FROM {t['group']} g "
            f"JOIN {membership} m ON m.group_id = g.id "
            f"JOIN {t['user']} u ON u.{t['user_pk']} = m.user_id "
            f"WHERE u.{t['username']} IN ({placeholders})",
            names,
        )
        rows = cursor.fetchall()
    shared = {group for member, group in rows if member in aliases}
    groups: dict[str, set[str]] = {user: set(shared) for user in users}
    for member, group in rows:
        if member in groups:
            groups[member].add(group)
    return {user: sorted(names) for user, names in groups.items()}


def set_group_members(group_principal: str, members: Iterable[str]) -> None:
    """Make exactly these principals members of the group.

    Every member is stored as a user, `system.Authenticated` included: a pseudo-user of that
    name makes every authenticated caller a member (see `group_principals_of`).
    """
    User = get_user_model()
    field = username_field()
    names = sorted(set(members))
    _, groups = ensure_principals([group_principal])
    user_ids: list[int] = []
    if names:
        User.objects.bulk_create([User(**{field: name}) for name in names], ignore_conflicts=True)
        user_ids = list(
            User.objects.filter(**{f"{field}__in": names}).values_list("pk", flat=True)
        )
    # Through the membership table directly: two statements, whatever the group's size.
    group_id = groups[group_principal]
    Membership = User.groups.through
    Membership.objects.filter(group_id=group_id).exclude(user_id__in=user_ids)._raw_delete(
        Membership.objects.db
    )
    Membership.objects.bulk_create(
        [Membership(group_id=group_id, user_id=user_id) for user_id in user_ids],
        ignore_conflicts=True,
    )


def forget_groups(group_principals_q: Q) -> None:
    """Delete groups with their memberships and every grant made to them: a group created
    later with the same URI starts with nothing (no dangling grant)."""
    User = get_user_model()
    groups = Group.objects.filter(group_principals_q)
    for related in (User.groups.through, GroupObjectPermission, Group.permissions.through):
        related.objects.filter(group__in=groups)._raw_delete(related.objects.db)
    groups._raw_delete(Group.objects.db)


def groups_having_members(user_ids: list[str]) -> list[str]:
    """Names of the group-URI groups (not `system.*`) these users are members of."""
    if not user_ids:
        return []
    User = get_user_model()
    names = Group.objects.filter(
        user__in=User.objects.filter(**{f"{username_field()}__in": user_ids}),
        name__startswith="/",
    )
    return sorted(set(names.values_list("name", flat=True)))


def revoke_users(user_ids: Iterable[str]) -> None:
    """Remove every grant and group membership of these user ids (an account being deleted:
    whoever signs up later with the same name must not inherit them)."""
    User = get_user_model()
    users = User.objects.filter(**{f"{username_field()}__in": list(user_ids)})
    for related in (User.groups.through, UserObjectPermission):
        related.objects.filter(user__in=users)._raw_delete(related.objects.db)


def forget_everything(models_with_acls: Iterable[type[models.Model]]) -> None:
    """Delete every ACL on objects of these types and the principals this module created:
    group principals (`system.*`, group URIs) and the users standing for user ids, which
    have an empty password. A host site's own users, groups and object permissions stay."""
    content_types = [content_type_id(model) for model in models_with_acls]
    for acl_model in (UserObjectPermission, GroupObjectPermission):
        acl_model.objects.filter(content_type_id__in=content_types)._raw_delete(
            acl_model.objects.db
        )
    Group.objects.filter(Q(name__startswith="system.") | Q(name__startswith="/")).delete()
    User = get_user_model()
    # Only rows named like a user id (`<policy>:<id>`, which Django's username validators
    # refuse): a host site's own users may have an empty password too (single sign-on).
    principals = User.objects.filter(**{f"{username_field()}__contains": ":"})
    if any(field.name == "password" for field in User._meta.concrete_fields):
        principals = principals.filter(password="")
    principals.delete()


def set_members_of_groups(members: Mapping[str, Iterable[str]]) -> None:
    """`set_group_members` of many groups in a constant number of queries."""
    User = get_user_model()
    field = username_field()
    wanted = {group: sorted(set(names)) for group, names in members.items()}
    if not wanted:
        return
    _, groups = ensure_principals(wanted)
    names = sorted({name for names in wanted.values() for name in names})
    user_ids: dict[str, int] = {}
    if names:
        User.objects.bulk_create([User(**{field: name}) for name in names], ignore_conflicts=True)
        user_ids = _existing_rows(User, field, names)
    Membership = User.groups.through
    Membership.objects.filter(group_id__in=[groups[g] for g in wanted])._raw_delete(
        Membership.objects.db
    )
    Membership.objects.bulk_create(
        [
            Membership(group_id=groups[group], user_id=user_ids[name])
            for group, names in wanted.items()
            for name in names
        ],
        ignore_conflicts=True,
    )
