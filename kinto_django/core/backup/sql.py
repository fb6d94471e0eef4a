"""SQL shared by the backup and the restore, per resource type: quoted names, the joins to a
kind's parents, JSON as text, and rows passed as one relation."""

from __future__ import annotations

from typing import Any

from django.db import connection

from kinto_django import jsonutil
from kinto_django.core.backup.kinds import BUCKET, ancestry
from kinto_django.core.models import ResourceModel


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def chain_joins(model: type[ResourceModel], alias: str = "t") -> tuple[str, list[str]]:
    """JOIN clauses from `alias` (a `model` row) up to the root, and the id columns of its
    ancestors from the root down (`a0.object_id`, `a1.object_id`)."""
    chain = ancestry(model)
    joins: list[str] = []
    child_alias, child_model = alias, model
    for depth in range(len(chain) - 1, -1, -1):
        parent = chain[depth]
        parent_alias = f"a{depth}"
        fk = child_model._meta.get_field(child_model.parent_field).column
        joins.append(
            f"JOIN {qn(parent._meta.db_table)} {parent_alias} "
            f"ON {parent_alias}.row_id = {child_alias}.{qn(fk)}"
        )
        child_alias, child_model = parent_alias, parent
    return " ".join(joins), [f"a{depth}.object_id" for depth in range(len(chain))]


def json_text(column: str, vendor: str) -> str:
    """A JSON column selected as text, decoded by `jsonutil` on both databases (exact
    integers of any size; psycopg would decode jsonb with the standard library)."""
    return f"{column}::text" if vendor == "postgresql" else column


def bucket_filter(
    kind_model: type[ResourceModel], alias: str, buckets: list[str] | None
) -> tuple[str, list[str]] | None:
    """A condition keeping only rows in the selected buckets (and the params), or None."""
    if buckets is None:
        return None
    chain = [*ancestry(kind_model), kind_model]
    if chain[0].resource_name != BUCKET:
        return None
    column = "a0.object_id" if len(chain) > 1 else f"{alias}.object_id"
    return f"{column} IN ({', '.join(['%s'] * len(buckets))})", list(buckets)


# Writing ---------------------------------------------------------------------------------


def relation(columns: list[tuple[str, str]], rows: list[tuple]) -> tuple[str, list[Any]]:
    """A derived table `k` of `rows`, its columns typed as `(name, PostgreSQL type)`, bound as
    one array per column (PostgreSQL) or one JSON document (SQLite), however many rows."""
    names = [name for name, _ in columns]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{sql_type}[]" for _, sql_type in columns)
        return f"unnest({arrays}) AS k({', '.join(names)})", [
            [row[i] for row in rows] for i in range(len(columns))
        ]
    extracted = ", ".join(
        f"json_extract(value, '$[{i}]') AS {name}" for i, name in enumerate(names)
    )
    return f"(SELECT {extracted} FROM json_each(%s)) AS k", [jsonutil.dumps(rows).decode()]


def resolve(
    model: type[ResourceModel], keys: list[tuple[str, ...]]
) -> dict[tuple[str, ...], tuple[int, bool]]:
    """Row id and `deleted` of stored objects named by their ids from the root down."""
    if not keys:
        return {}
    joins, ancestor_ids = chain_joins(model, "p")
    id_columns = [*ancestor_ids, "p.object_id"]
    rel, params = relation([(f"c{i}", "text") for i in range(len(id_columns))], keys)
    matches = " AND ".join(f"{column} = k.c{i}" for i, column in enumerate(id_columns))
    sql = (
        f"SELECT p.row_id, p.deleted, {', '.join(id_columns)} "
        f"FROM {qn(model._meta.db_table)} p {joins} JOIN {rel} ON {matches}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {tuple(ids): (pk, bool(deleted)) for pk, deleted, *ids in cursor.fetchall()}


# Restoring -------------------------------------------------------------------------------
