"""Reading and writing ACLs, one object or many at once (restores, live notifications)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, models
from django.db.models import CharField
from django.db.models.functions import Cast

from kinto_django.permissions.models import Grant
from kinto_django.permissions.store.rows import (
    any_of,
    content_type_id,
    grant_table,
    permission_codenames,
    permission_ids,
)


def read_acls(model: type[models.Model], pk: int) -> dict[str, list[str]]:
    """All ACLs of one object: ACL name → sorted principals (one query)."""
    names = permission_codenames(model)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT permission_id, principal FROM {grant_table()} "
            "WHERE content_type_id = %s AND object_pk = %s",
            [content_type_id(model), str(pk)],
        )
        rows = cursor.fetchall()
    acls: dict[str, list[str]] = {}
    for permission_id, principal in rows:
        codename = names.get(permission_id)
        if codename is not None:
            acls.setdefault(codename, []).append(principal)
    return {name: sorted(principals) for name, principals in acls.items()}


def read_acls_of_many(
    objects: list[tuple[type[models.Model], int]],
) -> dict[tuple[type[models.Model], int], dict[str, list[str]]]:
    """`read_acls` of several objects, of any types, in one query (live notifications decide
    an event's readers at once instead of once per subscriber)."""
    if not objects:
        return {}
    keys: dict[tuple[int, str], tuple[type[models.Model], int]] = {
        (content_type_id(model), str(pk)): (model, pk) for model, pk in objects
    }
    where = " OR ".join(["(content_type_id = %s AND object_pk = %s)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT content_type_id, object_pk, permission_id, principal "
            f"FROM {grant_table()} WHERE {where}",
            [value for key in keys for value in key],
        )
        rows = cursor.fetchall()
    names = {model: permission_codenames(model) for model, _ in objects}
    result: dict[tuple[type[models.Model], int], dict[str, list[str]]] = {
        obj: {} for obj in objects
    }
    for ct, object_pk, permission_id, principal in rows:
        obj = keys.get((ct, str(object_pk)))
        codename = names[obj[0]].get(permission_id) if obj is not None else None
        if codename is not None:
            result[obj].setdefault(codename, []).append(principal)
    return result


def write_acls(
    model: type[models.Model],
    pk: int,
    acls: dict[str, list[str]],
    replace: Iterable[str],
    fresh: bool = False,
) -> None:
    """Replace the ACL names in `replace` with the lists in `acls` (absent = emptied).

    With `fresh` the object is known to have no ACL rows, so none are deleted first.
    """
    replace = list(replace)
    ct = content_type_id(model)
    perm_ids = permission_ids(model, replace)
    if replace and not fresh:
        Grant.objects.filter(
            content_type_id=ct, object_pk=str(pk), permission_id__in=perm_ids.values()
        )._raw_delete(Grant.objects.db)
    rows = [
        Grant(content_type_id=ct, object_pk=str(pk), permission_id=perm_ids[name], principal=p)
        for name in replace
        for p in sorted(set(acls.get(name) or ()))
    ]
    if rows:
        Grant.objects.bulk_create(rows, ignore_conflicts=True)


def add_principal(model: type[models.Model], pk: int, codename: str, principal: str) -> None:
    """Grant one ACL to one principal, keeping the others."""
    Grant.objects.bulk_create(
        [
            Grant(
                content_type_id=content_type_id(model),
                object_pk=str(pk),
                permission_id=permission_ids(model, [codename])[codename],
                principal=principal,
            )
        ],
        ignore_conflicts=True,
    )


def purge_acls(model: type[models.Model], queryset: models.QuerySet) -> None:
    """Delete every ACL of the objects in `queryset` (objects being deleted or purged)."""
    keys = queryset.annotate(acl_key=Cast("pk", CharField())).values("acl_key")
    Grant.objects.filter(content_type_id=content_type_id(model), object_pk__in=keys)._raw_delete(
        Grant.objects.db
    )


def count_acl_entries() -> int:
    """How many ACL entries are stored."""
    return Grant.objects.count()


def read_acls_by_pk(
    model: type[models.Model], pks: Iterable[int], using: Any = None
) -> dict[int, dict[str, list[str]]]:
    """ACLs of many objects of one type in one query: pk → ACL name → sorted principals
    (objects without ACLs are absent). `using` is the database connection to read through
    (default: Django's), e.g. the backup's snapshot."""
    db = using or connection
    keys = [str(pk) for pk in pks]
    if not keys:
        return {}
    names = permission_codenames(model)
    condition, keys_param = any_of("object_pk", keys, db.vendor)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT object_pk, permission_id, principal FROM {grant_table()} "
            f"WHERE content_type_id = %s AND {condition}",
            [content_type_id(model), keys_param],
        )
        rows = cursor.fetchall()
    acls: dict[int, dict[str, list[str]]] = {}
    for object_pk, permission_id, principal in rows:
        codename = names.get(permission_id)
        if codename is not None:
            acls.setdefault(int(object_pk), {}).setdefault(codename, []).append(principal)
    for entries in acls.values():
        for principals in entries.values():
            principals.sort()
    return acls


def write_acls_by_pk(
    model: type[models.Model],
    acls: Mapping[int, Mapping[str, Iterable[str]]],
    replace: Iterable[int] = (),
) -> None:
    """Give many objects of one type exactly these ACLs, in a constant number of queries:
    the rows of the objects in `replace` are deleted first (the others have none yet)."""
    ct = content_type_id(model)
    replaced = [str(pk) for pk in replace]
    if replaced:
        condition, keys_param = any_of("object_pk", replaced)
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {grant_table()} WHERE content_type_id = %s AND {condition}",
                [ct, keys_param],
            )
    wanted = {
        (pk, name, principal)
        for pk, entries in acls.items()
        for name, principals in entries.items()
        for principal in principals
    }
    if not wanted:
        return
    perm_ids = permission_ids(model, {name for _, name, _ in wanted})
    rows = sorted((str(pk), perm_ids[name], principal) for pk, name, principal in wanted)
    columns = f"{grant_table()} (content_type_id, object_pk, permission_id, principal)"
    if connection.vendor == "postgresql":
        sql = (
            f"INSERT INTO {columns} SELECT %s, r.pk, r.perm, r.principal FROM "
            "unnest(%s::text[], %s::int[], %s::text[]) AS r(pk, perm, principal)"
        )
        params: list[Any] = [ct, *(list(column) for column in zip(*rows, strict=True))]
    else:
        sql = (
            f"INSERT INTO {columns} SELECT %s, json_extract(value, '$[0]'), "
            "json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(%s)"
        )
        params = [ct, json.dumps(rows)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
