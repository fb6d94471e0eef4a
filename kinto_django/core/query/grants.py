"""The `/permissions` listing as one SQL statement: the caller's grants (from the permissions
service), expanded to the permissions they imply on the same object, joined with the object
tables to build the URIs, then filtered, sorted and paginated by the database, which renders
only the page to JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import chain
from kinto_django.core.models import ResourceModel, resource_types
from kinto_django.core.query import ListQuery
from kinto_django.core.query.filters import SQL_OPERATORS, Filter, addressable, like_pattern
from kinto_django.core.query.sorting import Sort
from kinto_django.core.query.sql import (
    ABSENT,
    DIALECTS,
    MISSING,
    STRING,
    SqlAndParams,
    balanced_join,
    rank_of,
)
from kinto_django.permissions import service as permissions
from kinto_django.permissions.inheritance import implied_on_same_object

ROOT_URI = "/"


def literal(text: str) -> str:
    """An SQL string literal for a name from the code (resource and ACL names, plurals)."""
    return "'" + text.replace("'", "''") + "'"


def text_sql(expression: str) -> str:
    """Strings compared in code-point order on both databases: object ids are `C`-collated
    on PostgreSQL. Every branch of the listing has exactly this type and collation, so that
    PostgreSQL pushes filters down into each branch."""
    if connection.vendor == "postgresql":
        return f'CAST({expression} AS TEXT) COLLATE "C"'
    return expression


def ancestry(model: type[ResourceModel]) -> list[type[ResourceModel]]:
    """The model's type and those above it, from the root down (e.g. bucket, collection, record)."""
    return [*chain.parent_models(model), model]


@dataclass
class Source:
    """Rows of one resource type with their URI and ids: a `FROM` clause and expressions."""

    resource_name: str
    table: str
    parent_joins: str
    alive: str
    pk: str
    uri: str
    ids: dict[str, str]


def source(model: type[ResourceModel], prefix: str) -> Source:
    """The model's table (alias `<prefix>0` is the object itself) joined up to the root."""
    qn = connection.ops.quote_name
    levels = list(reversed(ancestry(model)))  # the object first, then its parents
    aliases = [f"{prefix}{index}" for index in range(len(levels))]
    parent_joins = ""
    for index in range(1, len(levels)):
        child, parent = levels[index - 1], levels[index]
        parent_fk = child._meta.get_field(child.parent_field).column
        parent_joins += (
            f" JOIN {qn(parent._meta.db_table)} {aliases[index]}"
            f" ON {aliases[index]}.{qn(parent._meta.pk.column)} = {aliases[index - 1]}.{qn(parent_fk)}"
        )
    object_ids = {
        level: f"{alias}.{qn(level._meta.get_field('object_id').column)}"
        for level, alias in zip(levels, aliases, strict=True)
    }
    uri = " || ".join(
        f"{literal('/' + level.plural_name + '/')} || {object_ids[level]}"
        for level in reversed(levels)
    )
    alive = " AND ".join(
        f"NOT {alias}.{qn(level._meta.get_field('deleted').column)}"
        for level, alias in zip(levels, aliases, strict=True)
    )
    return Source(
        resource_name=model.resource_name,
        table=f"{qn(model._meta.db_table)} {aliases[0]}",
        parent_joins=parent_joins,
        alive=alive,
        pk=f"{aliases[0]}.{qn(model._meta.pk.column)}",
        uri=uri,
        ids={f"{level.resource_name}_id": object_ids[level] for level in levels}
        | {"id": object_ids[model]},
    )


def settings_grants(
    identity: permissions.Identity, models: list[type[ResourceModel]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """`(resource_name, ACL name)` pairs that settings grant the caller on every object of a
    listed type, and the root's permissions (`bucket:create`, `account:create`)."""
    principals = set(identity.principals)

    def granted(setting: str) -> bool:
        return not principals.isdisjoint(kinto_settings.principals(setting))

    on_all: list[tuple[str, str]] = []
    root: list[str] = []
    for model in models:
        name = model.resource_name
        for perm in ("read", "write"):
            if model.listed_for_settings and granted(f"{name}_{perm}_principals"):
                on_all.append((name, perm))
        if not granted(f"{name}_create_principals"):
            continue
        if not model.parent_field:
            root.append(f"{name}:create")
        else:
            parent = ancestry(model)[-2]
            if parent.listed_for_settings:
                on_all.append((parent.resource_name, f"{name}:create"))
    return on_all, root


def json_list(items: list[str]) -> str:
    return jsonutil.dumps(items).decode()


def constant(rank: int, op: str, expected: int) -> str:
    """How a field of one JSON type compares with a value of another (spec/03 type ranks)."""
    if rank == expected:  # both absent
        result = op in ("=", "<=", ">=")
    else:
        result = {
            "=": rank == expected,
            "<>": rank != expected,
            "<": rank < expected,
            ">": rank > expected,
            "<=": rank <= expected,
            ">=": rank >= expected,
        }[op]
    return "TRUE" if result else "FALSE"


class Listing:
    """The caller's entries as SQL: `WITH … objects AS (…)`, one row per entry.

    Per resource type, the caller's grants (and those of the settings) are grouped by object
    and expanded, then joined with the object's table and its parents' to build the URI.

    `objects` has a text column per string field (NULL when the entry has no such field) and
    `permissions`, a JSON array. Filters and sorts read the columns with the type-rank
    semantics of every list (spec/03), and only the page is rendered to JSON.
    """

    def __init__(self, identity: permissions.Identity) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.dialect = DIALECTS[connection.vendor]
        self.dialect.prepare(connection)
        models = resource_types()
        self.id_columns = sorted({f"{model.resource_name}_id" for model in models})
        self.string_fields = ["uri", "resource_name", "id", *self.id_columns]
        self.sql, self.params = self.build(identity, models)

    def build(
        self, identity: permissions.Identity, models: list[type[ResourceModel]]
    ) -> tuple[str, list[Any]]:
        null = text_sql("NULL")
        as_integer = "BIGINT" if self.postgres else "INTEGER"
        on_all, root = settings_grants(identity, models)
        # Each permission is a bit: an object's permissions are the OR of its grants' masks
        # (an aggregate without sorting), spelled out as a JSON array for the returned page
        # by a CASE over every reachable mask.
        acls = {(m.resource_name, acl) for m in models for acl in m.acl_names}
        expansions = {key: implied_on_same_object(*key) for key in sorted(acls)}
        names = sorted({n for implied in expansions.values() for n in implied} | set(root))
        bits = {name: 1 << index for index, name in enumerate(names)}
        acl_masks = {key: sum(bits[n] for n in implied) for key, implied in expansions.items()}
        reachable = {sum(bits[name] for name in root)} if root else set()
        for resource_name in {name for name, _ in acl_masks}:
            combinations = {0}
            for (name, _), mask in acl_masks.items():
                if name == resource_name:
                    combinations |= {combination | mask for combination in combinations}
            reachable |= combinations - {0}
        self.permission_sets = {
            mask: json_list([n for n, bit in bits.items() if mask & bit])
            for mask in sorted(reachable)
        }
        if self.postgres:
            union = "bit_or({0})"
        else:
            union = " | ".join(f"MAX({{0}} & {bit})" for bit in bits.values())
        ctes: list[str] = []
        params: list[Any] = []
        branches: list[str] = []
        # The fields each type of entry has, to render it without null members.
        self.entry_fields = {"root": ["uri", "resource_name"]}
        for index, model in enumerate(models):
            src = source(model, f"t{index}_")
            # The caller's grants on objects of this type, and those of the settings.
            grants_sql, grants_params = permissions.grants_query(identity, model)
            params += grants_params
            grants = [grants_sql]
            for name, codename in on_all:
                if name == model.resource_name:
                    grants.append(
                        f"SELECT CAST({src.pk} AS TEXT), {literal(codename)} FROM {src.table}"
                    )
            # The permissions each ACL name of this type implies (others imply nothing:
            # Django's own model permissions, for instance).
            acl_mask = " ".join(
                f"WHEN {literal(acl)} THEN {value}"
                for (name, acl), value in acl_masks.items()
                if name == model.resource_name
            )
            ctes += [
                f"grants{index}(object_pk, codename) AS ({' UNION ALL '.join(grants)})",
                # One row per object, with everything it grants.
                f"granted{index}(object_pk, mask) AS (SELECT g.object_pk,"
                f" {union.format(f'(CASE g.codename {acl_mask} END)')}"
                f" FROM grants{index} g GROUP BY g.object_pk)",
            ]
            self.entry_fields[model.resource_name] = [
                c for c in self.string_fields if c in src.ids or c in ("uri", "resource_name")
            ]
            ids = [text_sql(src.ids[c]) if c in src.ids else null for c in self.string_fields[2:]]
            values = [text_sql(src.uri), text_sql(literal(model.resource_name)), *ids]
            branches.append(
                f"SELECT {', '.join(values)}, g.mask FROM granted{index} g"
                f" JOIN {src.table} ON {src.pk} = CAST(g.object_pk AS {as_integer})"
                f"{src.parent_joins} WHERE {src.alive} AND g.mask <> 0"
            )
        if root:
            values = [text_sql(literal(ROOT_URI)), text_sql(literal("root"))]
            values += [null] * (len(self.string_fields) - 2)
            root_mask = sum(bits[name] for name in root)
            branches.append(f"SELECT {', '.join(values)}, {root_mask}")
        columns = ", ".join(self.string_fields)
        ctes.append(f"objects({columns}, mask) AS ({' UNION ALL '.join(branches)})")
        return "WITH " + ", ".join(ctes) + " ", params

    # Expressions over a row `o` of `objects`.

    def permissions_json(self, json_type: str = "jsonb") -> str:
        """The entry's permissions as a JSON array: its mask spelled out."""
        as_json = f"CAST({{}} AS {json_type})" if self.postgres else "json({})"
        cases = " ".join(
            f"WHEN {mask} THEN {as_json.format(literal(names))}"
            for mask, names in self.permission_sets.items()
        )
        return f"(CASE o.mask {cases} END)"

    def entry_json(self) -> str:
        """The entry as JSON text, with the fields its type has (no null members)."""
        build = "json_build_object" if self.postgres else "json_object"
        permissions_json = self.permissions_json("json")
        cases = " ".join(
            f"WHEN {literal(name)} THEN {build}("
            + ", ".join(f"{literal(c)}, o.{c}" for c in fields)
            + f", 'permissions', {permissions_json})"
            for name, fields in self.entry_fields.items()
        )
        rendered = f"(CASE o.resource_name {cases} END)"
        return f"{rendered}::text" if self.postgres else rendered

    def json_columns(self) -> dict[str, str]:
        """`permissions` as a JSON document, for the JSON dialect (`data -> 'permissions'`)."""
        if self.postgres:
            data = f"jsonb_build_object('permissions', {self.permissions_json()})"
        else:
            data = f"json_object('permissions', {self.permissions_json()})"
        return {"data": data, "deleted": "FALSE"}

    def column(self, path: list[str]) -> str | None:
        """The text column of a string field, or None when the path cannot hold anything
        (an unknown field, or a key below a string)."""
        if len(path) == 1 and path[0] in self.string_fields:
            return text_sql(f"o.{path[0]}")
        return None

    def compare(self, path: list[str], op: str, value: Any) -> SqlAndParams:
        if path[0] == "permissions":
            return self.dialect.compare(self.json_columns(), path, op, value)
        expected = rank_of(value)
        missing = constant(ABSENT, op, expected)
        column = self.column(path)
        if column is None:
            return missing, []
        if expected == STRING:
            present, params = f"{column} {op} %s", [value]
        else:
            present, params = constant(STRING, op, expected), []
        return f"(CASE WHEN {column} IS NULL THEN {missing} ELSE {present} END)", params

    def condition(self, flt: Filter) -> SqlAndParams:
        """One filter, with the semantics of every list (spec/03)."""
        op, value, path = flt.operator, flt.value, flt.path
        if not addressable(flt.field):
            return "FALSE", []
        if op in SQL_OPERATORS:
            return self.compare(path, SQL_OPERATORS[op], value)
        if op in ("in", "exclude"):
            if not value:
                return ("FALSE" if op == "in" else "TRUE"), []
            sql_op, joiner = ("=", " OR ") if op == "in" else ("<>", " AND ")
            return balanced_join([self.compare(path, sql_op, v) for v in value], joiner)
        json_columns, column = self.json_columns(), self.column(path)
        if op == "like":
            pattern = like_pattern(value)
            if path[0] == "permissions":
                return self.dialect.like(json_columns, path, pattern)
            if column is None:
                return "FALSE", []
            return f"COALESCE({self.dialect.column_like(column)}, FALSE)", [pattern]
        if op == "has":
            if path[0] == "permissions":
                sql, params = self.dialect.present(json_columns, path)
            elif column is None:
                sql, params = "FALSE", []
            else:
                sql, params = f"({column} IS NOT NULL)", []
            return (sql, params) if value else (f"(NOT {sql})", params)
        if op in ("contains", "contains_any"):
            if path[0] == "permissions":
                any_of = op == "contains_any"
                return self.dialect.array_contains(json_columns, path, value, any_of)
            return "FALSE", []  # strings are not arrays
        raise AssertionError(op)

    def where(self, query: ListQuery) -> SqlAndParams:
        conditions = [self.condition(flt) for flt in query.filters]
        return balanced_join(conditions, " AND ") if conditions else ("TRUE", [])

    def after(self, sort: list[Sort], last_object: dict[str, Any]) -> SqlAndParams:
        """Entries strictly after the token's last entry in the sort order (keyset pagination)."""
        alternatives: list[SqlAndParams] = []
        equal_so_far: list[SqlAndParams] = []
        for entry in sort:
            value = last_object.get(entry.field, MISSING)
            step = self.compare(entry.path, "<" if entry.descending else ">", value)
            alternatives.append(balanced_join([*equal_so_far, step], " AND "))
            equal_so_far.append(self.compare(entry.path, "=", value))
        return balanced_join(alternatives, " OR ") if alternatives else ("TRUE", [])

    def order(self, sort: list[Sort]) -> SqlAndParams:
        parts: list[str] = []
        params: list[Any] = []
        for entry in sort:
            direction = "DESC" if entry.descending else "ASC"
            if entry.path[0] == "permissions":
                keys = self.dialect.sort_keys(self.json_columns(), entry.path)
            else:
                column = self.column(entry.path)
                if column is None:
                    continue  # the same (absent) for every entry
                keys = [(f"(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)", []), (column, [])]
            for key_sql, key_params in keys:
                parts.append(f"{key_sql} {direction}")
                params += key_params
        return ", ".join(parts), params
