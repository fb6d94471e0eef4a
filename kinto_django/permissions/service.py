"""The permissions service: the only way the engine and the apps reach identities and ACLs.

Typed, small and storage-agnostic: callers pass model instances and an `Identity`; the tables
stay behind `kinto_django.permissions.store`. A permission check, inherited rights included, is
one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import models

from kinto_django.conf import kinto_settings
from kinto_django.permissions import store
from kinto_django.permissions.authentication import authenticate
from kinto_django.permissions.identity import ANONYMOUS, AUTHENTICATED, EVERYONE, Identity
from kinto_django.permissions.inheritance import GRANTED_BY, acl_key, settings_implying

__all__ = [
    "Identity",
    "principals_for",
    "identity_for_user_id",
    "identities_for_user_ids",
    "has_permission",
    "permission_and_acls",
    "grants_of_many",
    "granted_by",
    "setting_grants",
    "restrict",
    "object_permissions",
    "set_object_permissions",
    "add_principal",
    "purge_permissions",
    "may_see_permissions",
    "set_group_members",
    "forget_groups",
    "groups_having_members",
    "revoke_users",
    "forget_everything",
    "grants_query",
    "acl_entry_count",
    "permissions_by_pk",
    "set_permissions_by_pk",
    "set_members_of_groups",
]


def identity_for_user_id(user_id: str | None) -> Identity:
    """Principals of a user id: itself, the system principals and its groups (one query)."""
    if not user_id:
        return ANONYMOUS
    groups = store.group_principals_of(user_id, [AUTHENTICATED])
    return Identity(user_id, (user_id, EVERYONE, AUTHENTICATED, *sorted(groups)))


def identities_for_user_ids(user_ids: Iterable[str]) -> dict[str, Identity]:
    """`identity_for_user_id` of several users in one query (long-lived connections refresh
    their callers' group memberships together)."""
    groups = store.group_principals_of_many(user_ids, [AUTHENTICATED])
    return {
        user_id: Identity(user_id, (user_id, EVERYONE, AUTHENTICATED, *names))
        for user_id, names in groups.items()
    }


def principals_for(request: Any, identities: dict[str, Identity] | None = None) -> Identity:
    """The caller of a request (a DRF `Request` or a Django `HttpRequest`), through the
    configured authentication policies. `identities` caches it by credentials: a request and
    the sub-requests of its batch compute it once."""
    key = request.META.get("HTTP_AUTHORIZATION", "")
    if identities is not None and key in identities:
        return identities[key]
    identity = identity_for_user_id(authenticate(request))
    if identities is not None:
        identities[key] = identity
    return identity


def setting_grants(identity: Identity, resource_name: str, permission: str) -> bool:
    """Whether a `<type>_<perm>_principals` setting grants this permission to the caller."""
    for implied in settings_implying(resource_name, permission):
        allowed = kinto_settings.principals(f"{resource_name}_{implied}_principals")
        if allowed and not set(allowed).isdisjoint(identity.principals):
            return True
    return False


def has_permission(
    identity: Identity,
    resource_name: str,
    permission: str,
    objects: Mapping[str, models.Model | None],
) -> bool:
    """May the caller do `permission` (read, write, create) on a `resource_name` object?

    `objects` maps ancestry levels to instances (`{"bucket": b, "collection": c, "record": r}`);
    a missing level (None) contributes no ACL, e.g. the record itself when checking a list
    read or the creation of a new record.
    """
    if setting_grants(identity, resource_name, permission):
        return True
    targets = _targets(resource_name, permission, objects)
    return bool(targets) and store.any_grant(targets, list(identity.principals))


def permission_and_acls(
    identity: Identity,
    resource_name: str,
    permission: str,
    objects: Mapping[str, models.Model | None],
) -> tuple[bool, dict[str, list[str]] | None]:
    """`has_permission` on the object `objects[resource_name]`, and that object's own ACLs
    read by the same query (None when a setting granted without reading any ACL)."""
    if setting_grants(identity, resource_name, permission):
        return True, None
    obj = objects[resource_name]
    granted, acls = store.grant_and_acls(
        _targets(resource_name, permission, objects),
        (type(obj), obj.pk),
        list(identity.principals),
    )
    return granted, acls


def grants_of_many(
    resource_name: str,
    permission: str,
    ancestry: Mapping[str, models.Model | None],
    objects: Sequence[models.Model | None],
) -> list[frozenset[str]]:
    """For each object, every principal that an ACL of the object or of its ancestry grants
    `permission` to (one query for all): who may see an event is then decided for any number
    of callers, in memory, with `granted_by`. A None object contributes no ACL of its own (a
    tombstone, whose ACLs are gone)."""
    key = acl_key(resource_name, permission)
    if key is None:
        return [frozenset() for _ in objects]
    levels = GRANTED_BY[key]
    rows: list[tuple[type[models.Model], int]] = []
    for level, obj in ancestry.items():
        if obj is not None and level != resource_name and level in levels:
            rows.append((type(obj), obj.pk))
    rows += [(type(obj), obj.pk) for obj in objects if obj is not None]
    acls = store.read_acls_of_many(list(dict.fromkeys(rows)))
    inherited: set[str] = set()
    for level, obj in ancestry.items():
        if obj is not None and level != resource_name and level in levels:
            for name in levels[level]:
                inherited.update(acls[(type(obj), obj.pk)].get(name, ()))
    own_names = levels.get(resource_name, ())
    result = []
    for obj in objects:
        granted = set(inherited)
        if obj is not None:
            own = acls[(type(obj), obj.pk)]
            for name in own_names:
                granted.update(own.get(name, ()))
        result.append(frozenset(granted))
    return result


def granted_by(
    identity: Identity, resource_name: str, permission: str, principals: frozenset[str]
) -> bool:
    """Whether the caller holds `permission`, given the principals `grants_of_many` found for
    the object: through one of them, or through a `<type>_<perm>_principals` setting."""
    return not principals.isdisjoint(identity.principals) or setting_grants(
        identity, resource_name, permission
    )


def _targets(
    resource_name: str, permission: str, objects: Mapping[str, models.Model | None]
) -> list[tuple[type[models.Model], int, tuple[str, ...]]]:
    """(type, pk, granting ACL names) of each level of the ancestry that can grant."""
    key = acl_key(resource_name, permission)
    if key is None:
        return []
    targets = []
    for level, acl_names in GRANTED_BY[key].items():
        obj = objects.get(level)
        if obj is not None:
            targets.append((type(obj), obj.pk, acl_names))
    return targets


def restrict(queryset: models.QuerySet, identity: Identity, permission: str) -> models.QuerySet:
    """Only the rows whose own ACLs grant `permission` (read or write) to the caller.

    The condition is part of the query that fetches the page: no per-row checks.
    """
    model = queryset.model
    codenames = GRANTED_BY[(model.resource_name, permission)][model.resource_name]
    condition = store.grant_exists_expression(model, codenames, list(identity.principals))
    if condition is None:
        return queryset.none()
    return queryset.filter(condition)


def object_permissions(obj: models.Model) -> dict[str, list[str]]:
    """The object's own ACLs (empty ones omitted)."""
    return {
        name: principals
        for name, principals in store.read_acls(type(obj), obj.pk).items()
        if principals
    }


def set_object_permissions(
    obj: models.Model,
    acls: Mapping[str, Iterable[str]],
    replace: Iterable[str] | None = None,
    *,
    fresh: bool = False,
) -> None:
    """Store ACLs: the names in `replace` (default: those given) get exactly the given lists.

    `fresh` says the object has no ACL yet (just created), so nothing needs removing.
    """
    names = list(acls) if replace is None else list(replace)
    store.write_acls(type(obj), obj.pk, {k: list(v) for k, v in acls.items()}, names, fresh=fresh)


def add_principal(obj: models.Model, acl_name: str, principal: str) -> None:
    """Add one principal to one ACL of an object (the writer to `write`, spec/04)."""
    store.add_principal(type(obj), obj.pk, acl_name, principal)


def purge_permissions(model: type[models.Model], queryset: models.QuerySet) -> None:
    """Forget every ACL of objects that are deleted, so that nothing grants on a reused id."""
    store.purge_acls(model, queryset)


def may_see_permissions(identity: Identity, acls: Mapping[str, Iterable[str]]) -> bool:
    """ACLs are shown only to callers literally listed in the object's own `write` ACL."""
    return not set(acls.get("write", ())).isdisjoint(identity.principals)


def set_group_members(group_principal: str, members: Iterable[str]) -> None:
    store.set_group_members(group_principal, members)


def forget_groups(uris: Iterable[str] | models.QuerySet) -> None:
    """Delete groups by URI (a list, or a one-column queryset of URIs): members lose the
    principal and every grant to it disappears."""
    store.forget_groups(uris)


def groups_having_members(principals: Iterable[str]) -> list[str]:
    """URIs of the groups whose members include one of these user principals."""
    return store.groups_having_members(list(principals))


def revoke_users(user_ids: Iterable[str]) -> None:
    """Remove every grant and membership of these user ids (deleted accounts and site users)."""
    store.revoke_users(user_ids)


def forget_everything(models_with_acls: Iterable[type[models.Model]]) -> None:
    """Erase every ACL on objects of these types and every group membership (the flush
    endpoint); a host site's own users and permissions are kept."""
    store.forget_everything(models_with_acls)


def grants_query(identity: Identity, model: type[models.Model]) -> tuple[str, list[Any]]:
    """SQL (and its parameters) selecting `(object_pk, codename)` of every ACL entry, on
    objects of `model`, that names one of the caller's principals: a subquery that the
    `/permissions` listing joins with the object tables."""
    return store.granted_acls_sql(model, list(identity.principals))


def acl_entry_count() -> int:
    """How many ACL entries are stored, for reports and benchmarks."""
    return store.count_acl_entries()


def permissions_by_pk(
    model: type[models.Model], pks: Iterable[int], using: Any = None
) -> dict[int, dict[str, list[str]]]:
    """The own ACLs of many objects of one type, one query for all (backups read them per
    chunk of objects): pk → ACL name → sorted principals; objects without ACLs are absent.
    `using` is the database connection to read through (default: Django's)."""
    return store.read_acls_by_pk(model, pks, using)


def set_permissions_by_pk(
    model: type[models.Model],
    acls: Mapping[int, Mapping[str, Iterable[str]]],
    replace: Iterable[int] = (),
) -> None:
    """Store exactly these ACLs on many objects of one type in a constant number of queries
    (restores write them per chunk); objects in `replace` lose their previous ACLs first,
    the others must have none yet."""
    store.write_acls_by_pk(model, acls, replace)


def set_members_of_groups(members: Mapping[str, Iterable[str]]) -> None:
    """`set_group_members` of many groups at once: group URI → exactly these members."""
    store.set_members_of_groups(members)
