"""An object's parents, and the object itself when wanted, read with one hand-written query.

Every request on a nested path needs its ancestors (for permission checks and 404s), and a
read of one object needs the object too. With the ORM this was two queries whose building
(`select_related`, filters) cost more than running them; here it is one query whose SQL is
built once per model chain.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from django.db import connection, models

if TYPE_CHECKING:
    from kinto_django.core.models import ResourceModel


def parent_models(model: type[ResourceModel]) -> tuple[type[ResourceModel], ...]:
    """Ancestor types from the root down, e.g. (Bucket, Collection) for records."""
    chain: list[type[ResourceModel]] = []
    current = model
    while current.parent_field:
        current = current._meta.get_field(current.parent_field).related_model
        chain.insert(0, current)
    return tuple(chain)


def ancestor_lookups(model: type[ResourceModel]) -> list[tuple[type[ResourceModel], str]]:
    """Ancestor types from the nearest up, each with the ORM lookup that reaches it from
    `model`, e.g. [(Collection, "collection"), (Bucket, "collection__bucket")] for records."""
    lookups: list[tuple[type[ResourceModel], str]] = []
    path: list[str] = []
    current = model
    while current.parent_field:
        path.append(current.parent_field)
        current = current._meta.get_field(current.parent_field).related_model
        lookups.append((current, "__".join(path)))
    return lookups


@functools.lru_cache
def _chain_sql(chain: tuple[type[ResourceModel], ...], target: type[ResourceModel] | None) -> str:
    """`SELECT` of every column of each live ancestor (inner joins, so a missing ancestor
    gives no row) and of the target row, alive or tombstone (outer join: NULLs when absent).

    Parameters, in order: each ancestor's id then `False` (deleted), root first; then the
    target's id.
    """
    levels = [*chain, target] if target is not None else list(chain)
    quote = connection.ops.quote_name
    columns: list[str] = []
    joins: list[str] = []
    for index, model in enumerate(levels):
        alias = f"t{index}"
        table = quote(model._meta.db_table)
        columns += [f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields]
        if index == 0:
            joins.append(f"FROM {table} {alias}")
            condition = ""
        else:
            parent_column = quote(model._meta.get_field(model.parent_field).column)
            condition = f" AND {alias}.{parent_column} = t{index - 1}.{quote('row_id')}"
        is_target = target is not None and index == len(levels) - 1
        own = f"{alias}.{quote('object_id')} = %s"
        if not is_target:
            own += f" AND {alias}.{quote('deleted')} = %s"
        if index == 0:
            where = own
        else:
            kind = "LEFT JOIN" if is_target else "JOIN"
            joins.append(f"{kind} {table} {alias} ON {own}{condition}")
    # The root's condition is written last (WHERE) but is its level's parameter: the caller
    # passes parameters level by level, so the root's move to the end.
    return f"SELECT {', '.join(columns)} {' '.join(joins)} WHERE {where}"


def _instance(model: type[ResourceModel], values: tuple) -> ResourceModel | None:
    """A model instance from its columns as the query returned them (None: outer-join miss)."""
    if values[0] is None:
        return None
    converted = []
    for field, value in zip(model._meta.concrete_fields, values, strict=True):
        if isinstance(field, models.JSONField):
            value = field.from_db_value(value, None, connection)
        elif isinstance(field, models.BooleanField):
            value = bool(value)
        converted.append(value)
    return model.from_db(connection.alias, None, converted)


def load(
    chain: tuple[type[ResourceModel], ...],
    ids: list[str],
    target: type[ResourceModel] | None = None,
    target_id: str | None = None,
) -> tuple[list[ResourceModel], ResourceModel | None] | None:
    """The live ancestors named by `ids` (root first) and the target row (or None).

    Returns None when an ancestor is missing or deleted; each instance has its parent set,
    so `obj.uri` and `obj.ancestors` need no further query.
    """
    sql = _chain_sql(chain, target)
    level_params: list[list[object]] = [[object_id, False] for object_id in ids]
    if target is not None:
        level_params.append([target_id])
    params = [p for level in level_params[1:] for p in level] + level_params[0]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instances: list[ResourceModel | None] = []
    offset = 0
    for model in [*chain, target] if target is not None else chain:
        width = len(model._meta.concrete_fields)
        instance = _instance(model, row[offset : offset + width])
        offset += width
        if instance is not None and instances and model.parent_field:
            setattr(instance, model.parent_field, instances[-1])
        instances.append(instance)
    if target is None:
        return instances, None  # type: ignore[return-value]
    return instances[:-1], instances[-1]  # type: ignore[return-value]


class Parents:
    """The objects above the addressed one, found with one query (more only on a miss)."""

    def __init__(
        self,
        parent: ResourceModel | None,
        missing: tuple[str, str] | None,
        found: dict[str, ResourceModel],
        invalid: bool = False,
    ) -> None:
        self.parent = parent
        self.missing = missing
        self.found = found
        # Whether the missing parent's id is not a valid id: no such parent can exist.
        self.invalid = invalid

    def objects(
        self, obj: ResourceModel | None = None, resource_name: str | None = None
    ) -> dict[str, Any]:
        """The ancestry map for permission checks, with the object itself when given."""
        objects: dict[str, Any] = dict(self.found)
        if obj is not None and resource_name is not None:
            objects[resource_name] = obj
        return objects


def load_parents(
    model: type[ResourceModel], kwargs: dict[str, str], target_id: str | None = None
) -> tuple[Parents, ResourceModel | None]:
    """The parents of the addressed object, and with `target_id` the object's row (alive or
    tombstone) too: one query when every level exists."""
    ancestors = parent_models(model)
    ids = [kwargs[f"{level.resource_name}_id"] for level in ancestors]
    if not all(level.valid_id(oid) for level, oid in zip(ancestors, ids, strict=True)):
        return _load_partial(list(ancestors), kwargs), None
    if not ancestors and target_id is None:
        return Parents(None, None, {}), None
    target = model if target_id is not None else None
    loaded = load(ancestors, ids, target, target_id)
    if loaded is None and not ancestors:
        return Parents(None, None, {}), None  # a top-level object that does not exist
    if loaded is None:
        return _load_partial(list(ancestors), kwargs), None
    found, row = loaded
    parents = Parents(found[-1] if found else None, None, {o.resource_name: o for o in found})
    return parents, row


def _load_partial(levels: list[type[ResourceModel]], kwargs: dict[str, str]) -> Parents:
    """On a miss: the ancestors that do exist (they may still grant), and the missing parent.

    The 404 names the direct parent even when a higher level is the one missing (a record
    write in a missing bucket reports its collection), as the reference does; but a level
    whose id is invalid is named itself (`/buckets/be*/collections/c/records`: the bucket).
    """
    found: dict[str, ResourceModel] = {}
    above: ResourceModel | None = None
    direct = levels[-1]
    missing = (kwargs[f"{direct.resource_name}_id"], direct.resource_name)
    for level in levels:
        object_id = kwargs[f"{level.resource_name}_id"]
        if not level.valid_id(object_id):
            return Parents(None, (object_id, level.resource_name), found, invalid=True)
        obj = level.objects.alive().in_parent(above).filter(object_id=object_id).first()
        if obj is None:
            return Parents(None, missing, found)
        found[level.resource_name] = obj
        above = obj
    raise AssertionError("parent chain unexpectedly complete")
