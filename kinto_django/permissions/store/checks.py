"""Permission checks in SQL: whether principals hold a grant, with an object's ACLs in the same
query; as a queryset condition; as the subquery of the `/permissions` listing.

Hand-written SQL where it runs on every request: building it with the ORM cost four times as
much as running it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db import connection, models
from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast

from kinto_django.permissions.models import Grant
from kinto_django.permissions.store.rows import (
    any_of,
    content_type_id,
    grant_table,
    permission_codenames,
    permission_ids,
)


def any_grant(
    targets: list[tuple[type[models.Model], int, tuple[str, ...]]], principals: list[str]
) -> bool:
    """Whether the principals hold one of the ACLs on one of the objects (one query)."""
    conditions: list[str] = []
    params: list[Any] = []
    for model, pk, codenames in targets:
        ids = list(permission_ids(model, codenames).values())
        if not ids:
            continue
        conditions.append(
            "(content_type_id = %s AND object_pk = %s AND permission_id IN ("
            + ", ".join(["%s"] * len(ids))
            + "))"
        )
        params += [content_type_id(model), str(pk), *ids]
    if not conditions or not principals:
        return False
    marks = ", ".join(["%s"] * len(principals))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {grant_table()} WHERE principal IN ({marks}) "
            f"AND ({' OR '.join(conditions)}) LIMIT 1",
            [*principals, *params],
        )
        return cursor.fetchone() is not None


def grant_and_acls(
    targets: list[tuple[type[models.Model], int, tuple[str, ...]]],
    own: tuple[type[models.Model], int],
    principals: list[str],
) -> tuple[bool, dict[str, list[str]]]:
    """`any_grant` and `read_acls` of the object `own` in one query: its ACL rows, plus the
    caller's rows on the other targets (the ancestors), decided here."""
    own_model, own_pk = own
    own_key = (content_type_id(own_model), str(own_pk))
    wanted: dict[tuple[int, str], set[int]] = {}
    for model, pk, codenames in targets:
        ids = permission_ids(model, codenames).values()
        wanted.setdefault((content_type_id(model), str(pk)), set()).update(ids)
    others = [key for key in wanted if key != own_key]
    where = "(content_type_id = %s AND object_pk = %s)"
    params: list[Any] = list(own_key)
    if others and principals:
        marks = ", ".join(["%s"] * len(principals))
        alternatives = " OR ".join(["(content_type_id = %s AND object_pk = %s)"] * len(others))
        where += f" OR (principal IN ({marks}) AND ({alternatives}))"
        params += [*principals, *(value for key in others for value in key)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT content_type_id, object_pk, permission_id, principal "
            f"FROM {grant_table()} WHERE {where}",
            params,
        )
        rows = cursor.fetchall()
    mine = set(principals)
    names = permission_codenames(own_model)
    granted = False
    acls: dict[str, list[str]] = {}
    for ct, object_pk, permission_id, principal in rows:
        key = (ct, object_pk)
        if principal in mine and permission_id in wanted.get(key, ()):
            granted = True
        if key == own_key and permission_id in names:
            acls.setdefault(names[permission_id], []).append(principal)
    return granted, {name: sorted(principals) for name, principals in acls.items()}


def grant_exists_expression(
    model: type[models.Model],
    codenames: tuple[str, ...],
    principals: list[str],
    outer_pk: str = "pk",
) -> Exists | None:
    """A condition for querysets of `model`: the row's own ACLs grant one of `codenames`."""
    if not principals:
        return None
    return Exists(
        Grant.objects.filter(
            content_type_id=content_type_id(model),
            object_pk=Cast(OuterRef(outer_pk), CharField()),
            permission_id__in=list(permission_ids(model, codenames).values()),
            principal__in=principals,
        )
    )


def granted_acls_sql(model: type[models.Model], principals: list[str]) -> tuple[str, list[Any]]:
    """SQL selecting `(object_pk, codename)` of every ACL entry, on objects of `model`, that
    names one of the principals.

    Meant as a subquery of a statement that joins the grants with the object table (the
    `/permissions` listing): one query, however many entries the caller holds.
    """
    if not principals:
        # Nobody to look for: a statement that selects nothing (still valid SQL to embed).
        return "SELECT NULL AS object_pk, NULL AS codename WHERE 1 = 0", []
    qn = connection.ops.quote_name
    condition, principals_param = any_of("p.principal", principals)
    sql = (
        "SELECT p.object_pk AS object_pk, perm.codename AS codename "
        f"FROM {grant_table()} p JOIN {qn(Permission._meta.db_table)} perm "
        "ON perm.id = p.permission_id "
        f"WHERE p.content_type_id = %s AND {condition}"
    )
    return sql, [content_type_id(model), principals_param]
