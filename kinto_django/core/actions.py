"""Every write goes through these functions (API, batch, admin, management commands).

Each runs in one transaction (the caller's, if any: views and batch sub-requests open their
own, so no extra savepoint is spent here): it validates, assigns the
timestamp, writes the row and its ACLs, purges what a deletion cascades to, and queues the
change event, which `kinto_django.core.events` sends once the outermost transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connection, models, transaction

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import timestamps
from kinto_django.core.context import ActionContext
from kinto_django.core.models import ResourceModel
from kinto_django.core.signals import resource_written, resources_purged
from kinto_django.permissions import service as permissions
from kinto_django.permissions.identity import EVERYONE

SAFE_TIMESTAMP_MAX = 2**53 - 1


def writer_principal(ctx: ActionContext) -> str:
    """Who is added to `write`: the user id, or everyone for an anonymous writer (spec/04)."""
    return ctx.user_id or EVERYONE


def _final_acls(
    writer: str,
    acls: Mapping[str, Iterable[str] | None] | None,
    replace: Iterable[str],
) -> tuple[dict[str, list[str]], list[str]]:
    """The ACL lists to store and the names they replace, with the writer added to `write`."""
    names = list(replace)
    given = acls or {}
    wanted = {name: list(dict.fromkeys(given.get(name) or ())) for name in names}
    if kinto_settings.explicit_permissions and "write" in wanted:
        if writer not in wanted["write"]:
            wanted["write"].append(writer)
    return wanted, names


def _store_acls(
    writer: str,
    obj: ResourceModel,
    acls: dict[str, list[str]],
    names: list[str],
    *,
    fresh: bool = False,
) -> None:
    """Write the ACL names in `names`, make sure the writer is in `write`, and remember the
    object's resulting ACLs on `obj.known_acls` so the response need not read them back.

    `fresh` objects (just inserted, or revived from a purged tombstone) have no ACL rows.
    """
    model = type(obj)
    if fresh or set(names) >= set(model.acl_names):
        permissions.set_object_permissions(obj, acls, replace=names, fresh=fresh)
        result = {name: acls.get(name, []) for name in model.acl_names}
    else:
        known = obj.known_acls
        result = dict(known) if known is not None else permissions.object_permissions(obj)
        if names:
            permissions.set_object_permissions(obj, acls, replace=names)
            result.update({name: acls.get(name, []) for name in names})
        if kinto_settings.explicit_permissions and writer not in result.get("write", ()):
            permissions.add_principal(obj, "write", writer)
            result["write"] = [*result.get("write", ()), writer]
    obj.known_acls = {name: sorted(set(p)) for name, p in result.items() if p}


def _event(
    ctx: ActionContext,
    action: str,
    model: type[ResourceModel],
    parent: ResourceModel | None,
    objs: list[ResourceModel],
    impacted: list[dict[str, Any]],
    timestamp: int,
    list_endpoint: bool,
) -> None:
    """Queue the change event (sent after commit) and tell in-transaction receivers."""
    obj = objs[0]
    payload: dict[str, Any] = {
        "action": action,
        "resource_name": model.resource_name,
        "uri": model.list_uri(parent) if list_endpoint else obj.uri,
        "user_id": ctx.user_id,
        "timestamp": timestamp,
    }
    for ancestor in [*parent.ancestors, parent] if parent is not None else []:
        payload[f"{ancestor.resource_name}_id"] = ancestor.object_id
    if not list_endpoint:
        payload[f"{model.resource_name}_id"] = obj.object_id
    merge_key = (model.resource_name, parent.uri if parent is not None else "", action)
    ctx.events.add(merge_key, payload, impacted)
    resource_written.send(
        sender=model, ctx=ctx, action=action, parent=parent, objects=objs, impacted=impacted
    )


def resolve_timestamp(
    model: type[ResourceModel], parent_key: int, forced: int | None, current: int | None
) -> tuple[int, int]:
    """A new timestamp for an object, honouring an allowed forced value (spec/02), and the
    list timestamp after the write."""
    if forced is not None and (current is None or forced > current):
        return timestamps.allocate_forced(model.resource_name, parent_key, forced)
    timestamp = timestamps.allocate(model.resource_name, parent_key)
    return timestamp, timestamp


def create_object(
    ctx: ActionContext,
    model: type[ResourceModel],
    parent: ResourceModel | None,
    object_id: str,
    data: dict[str, Any] | None,
    acls: Mapping[str, Iterable[str]] | None = None,
    *,
    tombstone: ResourceModel | None = None,
    forced_timestamp: int | None = None,
    list_endpoint: bool = False,
) -> ResourceModel:
    """Create an object (re-using its tombstone row if it had been deleted). `data` None:
    the request had none, the object is created empty (no field defaults, e.g. a group's
    `members` appear once data is written, as in the reference)."""
    with transaction.atomic(savepoint=False):
        data = {} if data is None else model.validate_data(data, parent=parent, old=None)
        data = model.validate_object(object_id, data, parent=parent, old=None)
        parent_key = parent.pk if parent is not None else 0
        timestamp, list_timestamp = resolve_timestamp(model, parent_key, forced_timestamp, None)
        if tombstone is not None:
            obj = tombstone
            obj.data, obj.last_modified, obj.deleted = data, timestamp, False
            obj.save(update_fields=["data", "last_modified", "deleted"])
        else:
            obj = model(object_id=object_id, data=data, last_modified=timestamp)
            if model.parent_field:
                setattr(obj, model.parent_field, parent)
            obj.save(force_insert=True)
        writer = obj.owner_principal(writer_principal(ctx))
        wanted, names = _final_acls(writer, acls, model.acl_names)
        _store_acls(writer, obj, wanted, names, fresh=True)
        obj.on_saved()
        _event(
            ctx,
            "create",
            model,
            parent,
            [obj],
            [{"new": obj.public_data()}],
            list_timestamp,
            list_endpoint,
        )
    return obj


def update_object(
    ctx: ActionContext,
    obj: ResourceModel,
    data: dict[str, Any] | None,
    acls: Mapping[str, Iterable[str]] | None = None,
    replace_acls: Iterable[str] = (),
    *,
    forced_timestamp: int | None = None,
    by_the_server: bool = False,
) -> tuple[dict[str, Any], ResourceModel]:
    """Replace an object's data (None keeps it) and the ACL names in `replace_acls`.

    Returns the previous version and the object. The timestamp always moves forward, even
    when nothing changed (spec/01). A change `by_the_server` (consistency upkeep, not the
    caller's own edit) leaves the ACLs alone: the caller is not added to `write`.
    """
    model = type(obj)
    with transaction.atomic(savepoint=False):
        old, old_public = obj.as_data(), obj.public_data()
        new_data = (
            obj.data if data is None else model.validate_data(data, parent=obj.parent, old=obj)
        )
        if data is not None and not by_the_server:
            new_data = model.validate_object(obj.object_id, new_data, parent=obj.parent, old=obj)
        timestamp, list_timestamp = resolve_timestamp(
            model, obj.parent_key, forced_timestamp, obj.last_modified
        )
        obj.data, obj.last_modified = new_data, timestamp
        obj.save(update_fields=["data", "last_modified"])
        if not by_the_server:
            writer = obj.owner_principal(writer_principal(ctx))
            wanted, names = _final_acls(writer, acls, replace_acls)
            _store_acls(writer, obj, wanted, names)
        obj.on_saved()
        _event(
            ctx,
            "update",
            model,
            obj.parent,
            [obj],
            [{"new": obj.public_data(), "old": old_public}],
            list_timestamp,
            False,
        )
    return old, obj


def delete_object(
    ctx: ActionContext, obj: ResourceModel, *, forced_timestamp: int | None = None
) -> ResourceModel:
    """Turn an object into a tombstone, purging its ACLs and everything below it."""
    model = type(obj)
    with transaction.atomic(savepoint=False):
        old = obj.public_data()
        timestamp, list_timestamp = resolve_timestamp(
            model, obj.parent_key, forced_timestamp, obj.last_modified
        )
        obj.data, obj.last_modified, obj.deleted = {}, timestamp, True
        obj.save(update_fields=["data", "last_modified", "deleted"])
        model.on_deleted(ctx, [obj])
        selection = model.objects.filter(pk=obj.pk)
        purge_children(model, selection)
        model.on_purged(selection)
        resources_purged.send(sender=model, queryset=selection)
        permissions.purge_permissions(model, selection)
        _event(
            ctx,
            "delete",
            model,
            obj.parent,
            [obj],
            [{"new": obj.as_data(), "old": old}],
            list_timestamp,
            False,
        )
    return obj


def delete_objects(
    ctx: ActionContext,
    model: type[ResourceModel],
    parent: ResourceModel | None,
    objs: list[ResourceModel],
) -> list[ResourceModel]:
    """Delete a page of objects of one list; each gets its own increasing timestamp."""
    if not objs:
        return []
    with transaction.atomic(savepoint=False):
        parent_key = parent.pk if parent is not None else 0
        first = timestamps.allocate(model.resource_name, parent_key, count=len(objs))
        impacted = []
        for index, obj in enumerate(objs):
            old = obj.public_data()
            obj.data, obj.last_modified, obj.deleted = {}, first + index, True
            impacted.append({"new": obj.as_data(), "old": old})
        mark_deleted(model, [(obj.pk, obj.last_modified) for obj in objs])
        model.on_deleted(ctx, objs)
        selection = model.objects.filter(pk__in=[obj.pk for obj in objs])
        purge_children(model, selection)
        model.on_purged(selection)
        resources_purged.send(sender=model, queryset=selection)
        permissions.purge_permissions(model, selection)
        _event(ctx, "delete", model, parent, objs, impacted, first + len(objs) - 1, True)
    return objs


def mark_deleted(model: type[ResourceModel], rows: list[tuple[int, int]]) -> None:
    """Turn rows into tombstones with their new timestamps, in one statement."""
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            f"UPDATE {table} AS t SET deleted = true, data = '{{}}'::jsonb, last_modified = v.ts "
            f"FROM unnest(%s::bigint[], %s::bigint[]) AS v(rid, ts) WHERE t.row_id = v.rid"
        )
        params: list[Any] = [[r for r, _ in rows], [ts for _, ts in rows]]
    else:
        sql = (
            f"UPDATE {table} SET deleted = 1, data = '{{}}', last_modified = v.ts FROM "
            f"(SELECT json_extract(value, '$[0]') AS rid, json_extract(value, '$[1]') AS ts "
            f"FROM json_each(%s)) AS v WHERE {table}.row_id = v.rid"
        )
        params = [jsonutil.dumps([list(row) for row in rows]).decode()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def children_of(model: type[ResourceModel]) -> list[type[ResourceModel]]:
    """Resource types whose parent is `model` (found from the foreign keys)."""
    children = []
    for relation in model._meta.related_objects:
        child = relation.related_model
        if (
            isinstance(child, type)
            and issubclass(child, ResourceModel)
            and child.parent_field == relation.field.name
        ):
            children.append(child)
    return children


def purge_children(model: type[ResourceModel], parents: models.QuerySet) -> None:
    """Remove, without tombstones or events, everything below the given objects (spec/01)."""
    parent_keys = parents.values("pk")
    for child in children_of(model):
        rows = child.objects.filter(**{f"{child.parent_field}__in": parent_keys})
        purge_children(child, rows)
        child.on_purged(rows)
        resources_purged.send(sender=child, queryset=rows)
        permissions.purge_permissions(child, rows)
        rows._raw_delete(rows.db)
        sql, params = parents.values("pk").query.sql_with_params()
        timestamps.forget_scopes(child.resource_name, sql, list(params))
