"""ACL persistence on django-guardian's generic object-permission tables.

Principals map onto Django's own models so that the Django admin and a host site's users see
the same ACLs: a user id (`account:ana`, `basicauth:…`, any other string) is a `User` whose
username is that string; `system.*` principals and group URIs are `Group`s. Only this module
touches the guardian, user and group tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast
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
    return users, groups


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


def permission_codenames(model: type[models.Model]) -> dict[int, str]:
    """ACL name of each auth permission id of `model` (cached per process)."""
    acl_names = getattr(model, "acl_names", ())
    return {pk: codename for codename, pk in permission_ids(model, acl_names).items()}


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
    if any(field.name == "password" for field in User._meta.concrete_fields):
        User.objects.filter(password="").delete()


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
