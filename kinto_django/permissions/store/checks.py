"""Permission checks in SQL: whether principals hold a grant, with an object's ACLs in the same
query; as a queryset condition; as the subquery of the `/permissions` listing."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, models
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

from kinto_django.permissions.store.rows import (
    _principal_filters,
    _tables,
    content_type_id,
    permission_codenames,
    permission_ids,
    username_field,
)


def any_grant(
    targets: list[tuple[type[models.Model], int, tuple[str, ...]]],
    user_id: str | None,
    group_principals: list[str],
) -> bool:
    """Whether the principals hold one of the ACLs on one of the objects — one query.

    Hand-written SQL: this runs on every request, and building it with the ORM cost four
    times as much as running it.
    """
    conditions: list[str] = []
    target_params: list[Any] = []
    for model, pk, codenames in targets:
        ids = list(permission_ids(model, codenames).values())
        if not ids:
            continue
        conditions.append(
            "(p.content_type_id = %s AND p.object_pk = %s AND p.permission_id IN ("
            + ", ".join(["%s"] * len(ids))
            + "))"
        )
        target_params += [content_type_id(model), str(pk), *ids]
    if not conditions:
        return False
    where = " OR ".join(conditions)
    t = _tables()
    parts: list[str] = []
    params: list[Any] = []
    if user_id:
        parts.append(
            f"SELECT 1 FROM {t['uop']} p JOIN {t['user']} u ON u.{t['user_pk']} = p.user_id "
            f"WHERE u.{t['username']} = %s AND ({where})"
        )
        params += [user_id, *target_params]
    if group_principals:
        placeholders = ", ".join(["%s"] * len(group_principals))
        parts.append(
            f"SELECT 1 FROM {t['gop']} p JOIN {t['group']} g ON g.id = p.group_id "
            f"WHERE g.name IN ({placeholders}) AND ({where})"
        )
        params += [*group_principals, *target_params]
    if not parts:
        return False
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts) + " LIMIT 1", params)
        return cursor.fetchone() is not None


def grant_and_acls(
    targets: list[tuple[type[models.Model], int, tuple[str, ...]]],
    own: tuple[type[models.Model], int],
    user_id: str | None,
    group_principals: list[str],
) -> tuple[bool, dict[str, list[str]]]:
    """`any_grant` and `read_acls` of the object `own` in one query: its ACL rows, plus the
    caller's rows on the other targets (the ancestors), decided here."""
    own_model, own_pk = own
    own_ct = content_type_id(own_model)
    wanted: dict[tuple[int, str], set[int]] = {}
    for model, pk, codenames in targets:
        ids = permission_ids(model, codenames).values()
        wanted.setdefault((content_type_id(model), str(pk)), set()).update(ids)
    others = [key for key in wanted if key != (own_ct, str(own_pk))]
    others_where = " OR ".join(["(p.content_type_id = %s AND p.object_pk = %s)"] * len(others))
    others_params = [value for key in others for value in key]
    t = _tables()
    own_where = "(p.content_type_id = %s AND p.object_pk = %s)"
    parts = []
    params: list[Any] = []
    for table, name_column, join, principals in (
        (
            t["uop"],
            f"u.{t['username']}",
            f"{t['user']} u ON u.{t['user_pk']} = p.user_id",
            [user_id] if user_id else [],
        ),
        (t["gop"], "g.name", f"{t['group']} g ON g.id = p.group_id", group_principals),
    ):
        where = own_where
        params += [own_ct, str(own_pk)]
        if others and principals:
            marks = ", ".join(["%s"] * len(principals))
            where += f" OR ({name_column} IN ({marks}) AND ({others_where}))"
            params += [*principals, *others_params]
        parts.append(
            f"SELECT p.content_type_id, p.object_pk, p.permission_id, {name_column} "
            f"FROM {table} p JOIN {join} WHERE {where}"
        )
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    mine = {user_id, *group_principals} - {None}
    names = permission_codenames(own_model)
    granted = False
    acls: dict[str, list[str]] = {}
    for ct, object_pk, permission_id, principal in rows:
        key = (ct, object_pk)
        if principal in mine and permission_id in wanted.get(key, ()):
            granted = True
        if key == (own_ct, str(own_pk)) and permission_id in names:
            acls.setdefault(names[permission_id], []).append(principal)
    return granted, {name: sorted(principals) for name, principals in acls.items()}


def grant_exists_expression(
    model: type[models.Model],
    codenames: tuple[str, ...],
    user_id: str | None,
    group_principals: list[str],
    outer_pk: str = "pk",
) -> Q | Exists | None:
    """A condition for querysets of `model`: the row's own ACLs grant one of `codenames`."""
    common = {
        "content_type_id": content_type_id(model),
        "object_pk": Cast(OuterRef(outer_pk), CharField()),
        "permission__codename__in": codenames,
    }
    user_q, group_q = _principal_filters(user_id, group_principals)
    condition = None
    if user_q is not None:
        condition = Exists(UserObjectPermission.objects.filter(user_q, **common))
    if group_q is not None:
        group_exists = Exists(GroupObjectPermission.objects.filter(group_q, **common))
        condition = group_exists if condition is None else (condition | group_exists)
    return condition


def granted_acls_sql(
    model: type[models.Model], user_id: str | None, group_principals: list[str]
) -> tuple[str, list[Any]]:
    """SQL selecting `(object_pk, codename)` of every ACL entry, on objects of `model`, that
    names the user or one of the groups.

    Meant as a subquery of a statement that joins the grants with the object table (the
    `/permissions` listing): one query, however many entries the caller holds. Written by
    hand: compiling it with the ORM costs more than running it.
    """
    User = get_user_model()
    qn = connection.ops.quote_name
    permission = (
        f"JOIN {qn(Permission._meta.db_table)} perm ON perm.{qn(Permission._meta.pk.column)}"
        f" = p.{qn(UserObjectPermission._meta.get_field('permission').column)}"
    )
    selected = f"SELECT p.{qn('object_pk')} AS object_pk, perm.{qn('codename')} AS codename"
    type_id = content_type_id(model)
    parts: list[str] = []
    params: list[Any] = []
    if user_id:
        users = User._meta
        parts.append(
            f"{selected} FROM {qn(UserObjectPermission._meta.db_table)} p {permission}"
            f" JOIN {qn(users.db_table)} u ON u.{qn(users.pk.column)} = p.{qn('user_id')}"
            f" WHERE p.{qn('content_type_id')} = %s"
            f" AND u.{qn(users.get_field(username_field()).column)} = %s"
        )
        params += [type_id, user_id]
    if group_principals:
        groups = Group._meta
        # One parameter, however many groups the caller is in (SQLite binds at most 32766).
        if connection.vendor == "postgresql":
            names, names_param = "= ANY(%s)", list(group_principals)
        else:
            names, names_param = (
                "IN (SELECT value FROM json_each(%s))",
                json.dumps(list(group_principals)),
            )
        parts.append(
            f"{selected} FROM {qn(GroupObjectPermission._meta.db_table)} p {permission}"
            f" JOIN {qn(groups.db_table)} g ON g.{qn(groups.pk.column)} = p.{qn('group_id')}"
            f" WHERE p.{qn('content_type_id')} = %s"
            f" AND g.{qn(groups.get_field('name').column)} {names}"
        )
        params += [type_id, names_param]
    if not parts:
        # Nobody to look for: a statement that selects nothing (still valid SQL to embed).
        parts.append("SELECT NULL AS object_pk, NULL AS codename WHERE 1 = 0")
    return " UNION ALL ".join(parts), params
