"""Group memberships, and the removal of principals that stop existing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import connection, models

from kinto_django.permissions.models import Grant, Membership
from kinto_django.permissions.store.rows import content_type_id, membership_table


def group_principals_of(user_id: str, member_aliases: Iterable[str]) -> list[str]:
    """URIs of the groups that list this user (or one of its aliases) as a member (runs on
    every authenticated request: one query)."""
    return group_principals_of_many([user_id], member_aliases)[user_id]


def group_principals_of_many(
    user_ids: Iterable[str], member_aliases: Iterable[str]
) -> dict[str, list[str]]:
    """`group_principals_of` for several users in one query: user id → group URIs (the
    groups listing an alias, such as `system.Authenticated`, count for every user)."""
    users = list(dict.fromkeys(user_ids))
    aliases = list(member_aliases)
    if not users:
        return {}
    names = [*users, *aliases]
    marks = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT member, group_uri FROM {membership_table()} WHERE member IN ({marks})",
            names,
        )
        rows = cursor.fetchall()
    shared = {group for member, group in rows if member in aliases}
    groups: dict[str, set[str]] = {user: set(shared) for user in users}
    for member, group in rows:
        if member in groups:
            groups[member].add(group)
    return {user: sorted(uris) for user, uris in groups.items()}


def set_group_members(group_principal: str, members: Iterable[str]) -> None:
    """Make exactly these principals members of the group (two statements)."""
    set_members_of_groups({group_principal: members})


def set_members_of_groups(members: Mapping[str, Iterable[str]]) -> None:
    """`set_group_members` of many groups in two statements."""
    wanted = {group: sorted(set(names)) for group, names in members.items()}
    if not wanted:
        return
    Membership.objects.filter(group_uri__in=list(wanted))._raw_delete(Membership.objects.db)
    Membership.objects.bulk_create(
        [
            Membership(group_uri=group, member=name)
            for group, names in wanted.items()
            for name in names
        ]
    )


def forget_groups(uris: Iterable[str] | models.QuerySet) -> None:
    """Delete the memberships of these groups (a list, or a one-column queryset of URIs) and
    every grant made to them: a group created later with the same URI starts with nothing."""
    uris = uris if isinstance(uris, models.QuerySet) else list(uris)
    Membership.objects.filter(group_uri__in=uris)._raw_delete(Membership.objects.db)
    Grant.objects.filter(principal__in=uris)._raw_delete(Grant.objects.db)


def groups_having_members(user_ids: list[str]) -> list[str]:
    """URIs of the groups these users are members of."""
    if not user_ids:
        return []
    groups = Membership.objects.filter(member__in=user_ids).values_list("group_uri", flat=True)
    return sorted(set(groups))


def revoke_users(user_ids: Iterable[str]) -> None:
    """Remove every grant and group membership of these user ids (an account or a site user
    being deleted: whoever comes later under the same name must not inherit them)."""
    user_ids = list(user_ids)
    Membership.objects.filter(member__in=user_ids)._raw_delete(Membership.objects.db)
    Grant.objects.filter(principal__in=user_ids)._raw_delete(Grant.objects.db)


def forget_everything(models_with_acls: Iterable[type[models.Model]]) -> None:
    """Delete every ACL on objects of these types and every membership. A host site's own
    users, groups and object permissions are not touched."""
    content_types = [content_type_id(model) for model in models_with_acls]
    Grant.objects.filter(content_type_id__in=content_types)._raw_delete(Grant.objects.db)
    Membership.objects.all()._raw_delete(Membership.objects.db)
