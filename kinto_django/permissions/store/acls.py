"""Reading and writing ACLs, one object or many at once (restores, live notifications)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, models
from django.db.models import CharField
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

from kinto_django.permissions.store.rows import (
    _tables,
    content_type_id,
    ensure_principals,
    permission_codenames,
    permission_ids,
)


def read_acls(model: type[models.Model], pk: int) -> dict[str, list[str]]:
    """All ACLs of one object: ACL name → sorted principals (one hand-written query)."""
    names = permission_codenames(model)
    t = _tables()
    sql = (
        f"SELECT p.permission_id, u.{t['username']} FROM {t['uop']} p "
        f"JOIN {t['user']} u ON u.{t['user_pk']} = p.user_id "
        f"WHERE p.content_type_id = %s AND p.object_pk = %s "
        f"UNION ALL SELECT p.permission_id, g.name FROM {t['gop']} p "
        f"JOIN {t['group']} g ON g.id = p.group_id "
        f"WHERE p.content_type_id = %s AND p.object_pk = %s"
    )
    ct = content_type_id(model)
    with connection.cursor() as cursor:
        cursor.execute(sql, [ct, str(pk), ct, str(pk)])
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
    t = _tables()
    keys: dict[tuple[int, str], tuple[type[models.Model], int]] = {
        (content_type_id(model), str(pk)): (model, pk) for model, pk in objects
    }
    where = " OR ".join(["(p.content_type_id = %s AND p.object_pk = %s)"] * len(keys))
    key_params = [value for key in keys for value in key]
    sql = (
        f"SELECT p.content_type_id, p.object_pk, p.permission_id, u.{t['username']} "
        f"FROM {t['uop']} p JOIN {t['user']} u ON u.{t['user_pk']} = p.user_id WHERE {where} "
        f"UNION ALL SELECT p.content_type_id, p.object_pk, p.permission_id, g.name "
        f"FROM {t['gop']} p JOIN {t['group']} g ON g.id = p.group_id WHERE {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, key_params + key_params)
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
    if replace and not fresh:
        scope = {"content_type_id": ct, "object_pk": str(pk), "permission__codename__in": replace}
        UserObjectPermission.objects.filter(**scope).delete()
        GroupObjectPermission.objects.filter(**scope).delete()
    wanted = {name: set(acls.get(name) or ()) for name in replace}
    everyone = set().union(*wanted.values()) if wanted else set()
    if not everyone:
        return
    users, groups = ensure_principals(everyone)
    perm_ids = permission_ids(model, [name for name, principals in wanted.items() if principals])
    user_rows, group_rows = [], []
    for name, principals in wanted.items():
        for principal in principals:
            if principal in users:
                user_rows.append(
                    UserObjectPermission(
                        user_id=users[principal],
                        permission_id=perm_ids[name],
                        content_type_id=ct,
                        object_pk=str(pk),
                    )
                )
            elif principal in groups:
                group_rows.append(
                    GroupObjectPermission(
                        group_id=groups[principal],
                        permission_id=perm_ids[name],
                        content_type_id=ct,
                        object_pk=str(pk),
                    )
                )
    if user_rows:
        UserObjectPermission.objects.bulk_create(user_rows, ignore_conflicts=True)
    if group_rows:
        GroupObjectPermission.objects.bulk_create(group_rows, ignore_conflicts=True)


def add_principal(model: type[models.Model], pk: int, codename: str, principal: str) -> None:
    """Grant one ACL to one principal, keeping the others."""
    users, groups = ensure_principals([principal])
    perm_id = permission_ids(model, [codename])[codename]
    common = {
        "permission_id": perm_id,
        "content_type_id": content_type_id(model),
        "object_pk": str(pk),
    }
    if principal in users:
        UserObjectPermission.objects.bulk_create(
            [UserObjectPermission(user_id=users[principal], **common)], ignore_conflicts=True
        )
    else:
        GroupObjectPermission.objects.bulk_create(
            [GroupObjectPermission(group_id=groups[principal], **common)], ignore_conflicts=True
        )


def purge_acls(model: type[models.Model], queryset: models.QuerySet) -> None:
    """Delete every ACL of the objects in `queryset` (objects being deleted or purged)."""
    ct = content_type_id(model)
    keys = queryset.annotate(acl_key=Cast("pk", CharField())).values("acl_key")
    for acl_model in (UserObjectPermission, GroupObjectPermission):
        acl_model.objects.filter(content_type_id=ct, object_pk__in=keys)._raw_delete(
            acl_model.objects.db
        )


def count_acl_entries() -> int:
    """How many ACL entries are stored (user and group grants together)."""
    return UserObjectPermission.objects.count() + GroupObjectPermission.objects.count()


def _keys_param(keys: list[str], vendor: str) -> tuple[str, Any]:
    """A condition on `p.object_pk` matching any of `keys`, with one bound parameter however
    many there are (SQLite binds a limited number of parameters)."""
    if vendor == "postgresql":
        return "p.object_pk = ANY(%s)", keys
    return "p.object_pk IN (SELECT value FROM json_each(%s))", json.dumps(keys)


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
    t = _tables()
    ct = content_type_id(model)
    condition, keys_param = _keys_param(keys, db.vendor)
    sql = (
        f"SELECT p.object_pk, p.permission_id, u.{t['username']} FROM {t['uop']} p "
        f"JOIN {t['user']} u ON u.{t['user_pk']} = p.user_id "
        f"WHERE p.content_type_id = %s AND {condition} "
        f"UNION ALL SELECT p.object_pk, p.permission_id, g.name FROM {t['gop']} p "
        f"JOIN {t['group']} g ON g.id = p.group_id "
        f"WHERE p.content_type_id = %s AND {condition}"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, [ct, keys_param, ct, keys_param])
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
        condition, keys_param = _keys_param(replaced, connection.vendor)
        with connection.cursor() as cursor:
            for table in (UserObjectPermission, GroupObjectPermission):
                cursor.execute(
                    f"DELETE FROM {table._meta.db_table} AS p "
                    f"WHERE p.content_type_id = %s AND {condition}",
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
    users, groups = ensure_principals({principal for _, _, principal in wanted})
    perm_ids = permission_ids(model, {name for _, name, _ in wanted})
    user_rows = sorted(
        (str(pk), perm_ids[name], users[principal])
        for pk, name, principal in wanted
        if principal in users
    )
    group_rows = sorted(
        (str(pk), perm_ids[name], groups[principal])
        for pk, name, principal in wanted
        if principal in groups
    )
    for table, owner, rows in (
        (UserObjectPermission, "user_id", user_rows),
        (GroupObjectPermission, "group_id", group_rows),
    ):
        if rows:
            _insert_acl_rows(table._meta.db_table, owner, ct, rows)


def _insert_acl_rows(
    table: str, owner_column: str, ct: int, rows: list[tuple[str, int, int]]
) -> None:
    """One INSERT of `(object_pk, permission_id, owner_id)` rows of one content type."""
    columns = f"{table} (content_type_id, object_pk, permission_id, {owner_column})"
    if connection.vendor == "postgresql":
        sql = (
            f"INSERT INTO {columns} SELECT %s, r.pk, r.perm, r.owner FROM "
            f"unnest(%s::text[], %s::int[], %s::int[]) AS r(pk, perm, owner)"
        )
        params: list[Any] = [ct, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]
    else:
        sql = (
            f"INSERT INTO {columns} SELECT %s, json_extract(value, '$[0]'), "
            f"json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(%s)"
        )
        params = [ct, json.dumps(rows)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
