"""SQL for querying JSON objects, written once per database dialect.

Values of different JSON types compare by type rank — null < string < number < boolean <
array < object < missing field (spec/03) — and strings in code-point order on both
databases. Every comparison is `CASE WHEN rank(x) = rank(v) THEN x op v ELSE rank(x) op
rank(v) END`, which gives the spec's rules for missing fields for free: a missing field (rank
6) is "greater than everything", so it matches `not_`, `gt_`, `min_` and never `eq`, `lt_`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.db.models import BooleanField, Expression, F, Field, TextField

from kinto_django import jsonutil

COLUMNS = ("data", "object_id", "last_modified", "deleted")
MISSING = object()

# JSON type of a Python value → rank.
NULL, STRING, NUMBER, BOOLEAN, ARRAY, OBJECT, ABSENT = range(7)


def rank_of(value: Any) -> int:
    if value is MISSING:
        return ABSENT
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, str):
        return STRING
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, list):
        return ARRAY
    return OBJECT


SqlAndParams = tuple[str, list[Any]]
Columns = dict[str, str]


def balanced_join(parts: list[SqlAndParams], joiner: str) -> SqlAndParams:
    """`(a OR b OR …)` nested as a balanced tree: SQLite refuses expressions deeper than 1000,
    which a flat chain of a thousand terms is once parsed."""
    while len(parts) > 1:
        paired = []
        for index in range(0, len(parts) - 1, 2):
            (left, left_params), (right, right_params) = parts[index], parts[index + 1]
            paired.append((f"({left}{joiner}{right})", [*left_params, *right_params]))
        if len(parts) % 2:
            paired.append(parts[-1])
        parts = paired
    return parts[0]


def sqlite_number(value: Any) -> Any:
    """A parameter SQLite can bind: integers beyond 64 bits become (possibly infinite) floats,
    which is also how SQLite's JSON functions read them from stored data."""
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


class Dialect:
    """How one database reads and compares a JSON field of the `data` column."""

    def rank(self, cols: Columns, path: list[str]) -> SqlAndParams:
        raise NotImplementedError

    def compare_same_type(
        self, cols: Columns, path: list[str], op: str, value: Any
    ) -> SqlAndParams:
        raise NotImplementedError

    def sort_keys(self, cols: Columns, path: list[str]) -> list[SqlAndParams]:
        """The `SORT_KEYS` expressions that order a field's values (type rank, then value)."""
        raise NotImplementedError

    def like(self, cols: Columns, path: list[str], pattern: str) -> SqlAndParams:
        raise NotImplementedError

    def present(self, cols: Columns, path: list[str]) -> SqlAndParams:
        raise NotImplementedError

    def array_contains(
        self, cols: Columns, path: list[str], values: list[Any], any_of: bool
    ) -> SqlAndParams:
        raise NotImplementedError

    def object_json(self, cols: Columns) -> str:
        """The full object (or tombstone) as JSON text, built by the database."""
        raise NotImplementedError

    def column_like(self, column_sql: str) -> str:
        raise NotImplementedError

    def array_holds_any(self, data_sql: str, path: list[str], values: list[str]) -> SqlAndParams:
        """Whether the JSON array at `path` of a data column holds one of the strings."""
        raise NotImplementedError

    def with_empty_object(self, data_sql: str, path: list[str]) -> str:
        """The data column with the value at `path` replaced by an empty object."""
        raise NotImplementedError

    @staticmethod
    def prepare(connection: Any) -> None:
        """Make the connection ready for this dialect's SQL (nothing to do by default)."""

    def compare(self, cols: Columns, path: list[str], op: str, value: Any) -> SqlAndParams:
        rank_sql, rank_params = self.rank(cols, path)
        expected = rank_of(value)
        if expected in (NULL, ABSENT):
            same = ("TRUE" if op in ("=", "<=", ">=") else "FALSE", [])
        else:
            same = self.compare_same_type(cols, path, op, value)
        sql = f"(CASE WHEN {rank_sql} = {expected} THEN {same[0]} ELSE {rank_sql} {op} {expected} END)"
        return sql, [*rank_params, *same[1], *rank_params]


class PostgresDialect(Dialect):
    RANK = (
        "(CASE jsonb_typeof({x}) WHEN 'null' THEN 0 WHEN 'string' THEN 1 WHEN 'number' THEN 2 "
        "WHEN 'boolean' THEN 3 WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 6 END)"
    )

    def __init__(self, bytewise_strings: bool = False) -> None:
        # True on a database whose collation is C (or POSIX): see `compares_bytewise`.
        self.bytewise_strings = bytewise_strings

    def value(self, cols: Columns, path: list[str]) -> SqlAndParams:
        if path == ["deleted"]:
            return (
                f"(CASE WHEN {cols['deleted']} THEN 'true'::jsonb ELSE {cols['data']} -> 'deleted' END)",
                [],
            )
        return "(" + cols["data"] + " -> %s" * len(path) + ")", list(path)

    def rank(self, cols: Columns, path: list[str]) -> SqlAndParams:
        x, params = self.value(cols, path)
        return self.RANK.format(x=x), params

    def compare_same_type(
        self, cols: Columns, path: list[str], op: str, value: Any
    ) -> SqlAndParams:
        x, params = self.value(cols, path)
        if isinstance(value, str):
            return f"(({x} #>> '{{}}') COLLATE \"C\" {op} %s)", [*params, value]
        return f"({x} {op} %s::jsonb)", [*params, jsonutil.dumps(value).decode()]

    def sort_keys(self, cols: Columns, path: list[str]) -> list[SqlAndParams]:
        """jsonb's own order already ranks types as we do (null < string < number < boolean
        < array < object, absent last); only strings need code-point order, so every string
        ranks as `""` in the first key and the second key orders them."""
        x, params = self.value(cols, path)
        if self.bytewise_strings:
            # jsonb compares strings with the database's collation, here byte by byte (the
            # code-point order of UTF-8): its own order is ours, at half the cost.
            return [(x, params), ("NULL::text", [])]
        is_string = f"jsonb_typeof({x}) = 'string'"
        return [
            (f"(CASE WHEN {is_string} THEN '\"\"'::jsonb ELSE {x} END)", params * 2),
            (f"(CASE WHEN {is_string} THEN {x} #>> '{{}}' END) COLLATE \"C\"", params * 2),
        ]

    def like(self, cols: Columns, path: list[str], pattern: str) -> SqlAndParams:
        x, params = self.value(cols, path)
        return f"(({x} #>> '{{}}') ILIKE %s)", [*params, pattern]

    def column_like(self, column_sql: str) -> str:
        return f"({column_sql} ILIKE %s)"

    def array_holds_any(self, data_sql: str, path: list[str], values: list[str]) -> SqlAndParams:
        pointer = "{" + ",".join(path) + "}"
        return f"COALESCE(({data_sql} #> '{pointer}') ?| %s::text[], false)", [values]

    def with_empty_object(self, data_sql: str, path: list[str]) -> str:
        pointer = "{" + ",".join(path) + "}"
        return f"jsonb_set({data_sql}, '{pointer}', '{{}}'::jsonb)"

    def present(self, cols: Columns, path: list[str]) -> SqlAndParams:
        x, params = self.value(cols, path)
        return f"({x} IS NOT NULL)", params

    def array_contains(
        self, cols: Columns, path: list[str], values: list[Any], any_of: bool
    ) -> SqlAndParams:
        x, params = self.value(cols, path)
        if not any_of:
            return f"(jsonb_typeof({x}) = 'array' AND {x} @> %s::jsonb)", [
                *params,
                *params,
                jsonutil.dumps(values).decode(),
            ]
        if not values:
            return "FALSE", []
        tests = " OR ".join([f"{x} @> %s::jsonb"] * len(values))
        test_params: list[Any] = []
        for value in values:
            test_params += [*params, jsonutil.dumps([value]).decode()]
        return f"(jsonb_typeof({x}) = 'array' AND ({tests}))", [*params, *test_params]

    def object_json(self, cols: Columns) -> str:
        ident = f"'id', {cols['object_id']}, 'last_modified', {cols['last_modified']}"
        return (
            f"(CASE WHEN {cols['deleted']} THEN jsonb_build_object({ident}, 'deleted', true) "
            f"ELSE {cols['data']} || jsonb_build_object({ident}) END)::text"
        )


class SqliteDialect(Dialect):
    RANK = (
        "(CASE {t} WHEN 'null' THEN 0 WHEN 'text' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 "
        "WHEN 'true' THEN 3 WHEN 'false' THEN 3 WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 6 END)"
    )

    @staticmethod
    def json_path(path: list[str]) -> str:
        return "$" + "".join(f'."{key}"' for key in path)

    def type_and_value(self, cols: Columns, path: list[str]) -> tuple[SqlAndParams, SqlAndParams]:
        json_path = self.json_path(path)
        if path == ["deleted"]:
            return (
                (
                    f"(CASE WHEN {cols['deleted']} THEN 'true' ELSE json_type({cols['data']}, %s) END)",
                    [json_path],
                ),
                (
                    f"(CASE WHEN {cols['deleted']} THEN 1 ELSE json_extract({cols['data']}, %s) END)",
                    [json_path],
                ),
            )
        return (
            (f"json_type({cols['data']}, %s)", [json_path]),
            (f"json_extract({cols['data']}, %s)", [json_path]),
        )

    def rank(self, cols: Columns, path: list[str]) -> SqlAndParams:
        (t, params), _ = self.type_and_value(cols, path)
        return self.RANK.format(t=t), params

    def compare_same_type(
        self, cols: Columns, path: list[str], op: str, value: Any
    ) -> SqlAndParams:
        _, (v, params) = self.type_and_value(cols, path)
        if isinstance(value, (list, dict)):
            return f"({v} {op} json(%s))", [*params, jsonutil.dumps(value).decode()]
        if isinstance(value, bool):
            value = int(value)
        return f"({v} {op} %s)", [*params, sqlite_number(value)]

    def sort_keys(self, cols: Columns, path: list[str]) -> list[SqlAndParams]:
        (t, t_params), (v, v_params) = self.type_and_value(cols, path)
        return [(self.RANK.format(t=t), t_params), (v, v_params)]

    def like(self, cols: Columns, path: list[str], pattern: str) -> SqlAndParams:
        (t, t_params), (v, v_params) = self.type_and_value(cols, path)
        text = f"(CASE {t} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST({v} AS TEXT) END)"
        # SQLite's LIKE folds ASCII only; lower both sides as PostgreSQL's ILIKE does.
        return f"(kinto_lower({text}) LIKE %s ESCAPE '\\')", [
            *t_params,
            *v_params,
            pattern.lower(),
        ]

    def column_like(self, column_sql: str) -> str:
        return f"(kinto_lower({column_sql}) LIKE kinto_lower(%s) ESCAPE '\\')"

    def array_holds_any(self, data_sql: str, path: list[str], values: list[str]) -> SqlAndParams:
        return (
            f"EXISTS (SELECT 1 FROM json_each({data_sql}, '{self.json_path(path)}') AS item"
            f" WHERE item.value IN (SELECT value FROM json_each(%s)))",
            [jsonutil.dumps(values).decode()],
        )

    def with_empty_object(self, data_sql: str, path: list[str]) -> str:
        return f"json_set({data_sql}, '{self.json_path(path)}', json('{{}}'))"

    @staticmethod
    def prepare(connection: Any) -> None:
        """Register `kinto_lower` (Unicode lower case) on the raw connection, once per connection."""
        connection.ensure_connection()
        raw = connection.connection
        if getattr(connection, "_kinto_functions_on", None) is not raw:
            raw.create_function("kinto_lower", 1, _lower, deterministic=True)
            connection._kinto_functions_on = raw

    def present(self, cols: Columns, path: list[str]) -> SqlAndParams:
        (t, params), _ = self.type_and_value(cols, path)
        return f"({t} IS NOT NULL)", params

    def array_contains(
        self, cols: Columns, path: list[str], values: list[Any], any_of: bool
    ) -> SqlAndParams:
        (t, t_params), _ = self.type_and_value(cols, path)
        json_path = self.json_path(path)
        tests: list[SqlAndParams] = []
        for value in values:
            match, match_params = self._element_match(value)
            tests.append(
                (
                    f"EXISTS (SELECT 1 FROM json_each({cols['data']}, %s) AS e WHERE {match})",
                    [json_path, *match_params],
                )
            )
        if not tests:
            return ("FALSE", []) if any_of else (f"({t} = 'array')", t_params)
        joined, params = balanced_join(tests, " OR " if any_of else " AND ")
        return f"({t} = 'array' AND {joined})", [*t_params, *params]

    @staticmethod
    def _element_match(value: Any) -> SqlAndParams:
        if value is None:
            return "e.type = 'null'", []
        if isinstance(value, bool):
            return "e.type = %s", ["true" if value else "false"]
        if isinstance(value, str):
            return "e.type = 'text' AND e.value = %s", [value]
        if isinstance(value, (int, float)):
            return "e.type IN ('integer', 'real') AND e.value = %s", [sqlite_number(value)]
        kind = "array" if isinstance(value, list) else "object"
        return f"e.type = '{kind}' AND json(e.value) = json(%s)", [jsonutil.dumps(value).decode()]

    def object_json(self, cols: Columns) -> str:
        return (
            f"(CASE WHEN {cols['deleted']} THEN json_object('id', {cols['object_id']}, 'last_modified', "
            f"{cols['last_modified']}, 'deleted', json('true')) ELSE json_set({cols['data']}, '$.id', "
            f"{cols['object_id']}, '$.last_modified', {cols['last_modified']}) END)"
        )


def _lower(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else text


# How many ORDER BY expressions every dialect's `sort_keys` gives for one field.
SORT_KEYS = 2

DIALECTS: dict[str, Dialect] = {"postgresql": PostgresDialect(), "sqlite": SqliteDialect()}
BYTEWISE_POSTGRES = PostgresDialect(bytewise_strings=True)

DATABASE_COLLATION_SQL = (
    "SELECT d.datcollate, to_jsonb(d) ->> 'datlocprovider' FROM pg_database d "
    "WHERE d.datname = current_database()"
)


def compares_bytewise(connection: Any) -> bool:
    """Whether this PostgreSQL database compares text byte by byte: its default collation is
    C or POSIX from the C library (not ICU). Read once per physical connection, on the raw
    connection (outside Django's query log: query counts stay those of the request)."""
    connection.ensure_connection()
    raw = connection.connection
    known = getattr(connection, "_kinto_bytewise", None)
    if known is not None and known[0] is raw:
        return known[1]
    with raw.cursor() as cursor:
        cursor.execute(DATABASE_COLLATION_SQL)
        collate, provider = cursor.fetchone()
    bytewise = collate in ("C", "POSIX") and provider in (None, "c")
    connection._kinto_bytewise = (raw, bytewise)
    return bytewise


def dialect_for(connection: Any) -> Dialect:
    """The SQL dialect of a connection, ready to use."""
    if connection.vendor == "postgresql" and compares_bytewise(connection):
        return BYTEWISE_POSTGRES
    dialect = DIALECTS[connection.vendor]
    dialect.prepare(connection)
    return dialect


Builder = Callable[[Dialect, Columns], SqlAndParams]


class RowSQL(Expression):
    """An SQL fragment over a resource row's columns, built for the connection's dialect."""

    def __init__(self, build: Builder, output_field: Field | None = None) -> None:
        super().__init__(output_field=output_field or BooleanField())
        self.build = build
        self.columns: dict[str, Any] = {}

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> RowSQL:
        clone = self.copy()
        clone.columns = {
            name: F(name).resolve_expression(query, allow_joins, reuse, summarize)
            for name in COLUMNS
        }
        return clone

    def as_sql(self, compiler: Any, connection: Any) -> SqlAndParams:
        cols = {name: compiler.compile(column)[0] for name, column in self.columns.items()}
        return self.build(dialect_for(connection), cols)

    def get_group_by_cols(self) -> list:
        return []

    def __repr__(self) -> str:
        return f"RowSQL({self.build!r})"


def object_json_expression() -> RowSQL:
    return RowSQL(lambda dialect, cols: (dialect.object_json(cols), []), output_field=TextField())


def object_json_hiding(
    path: list[str], unless_listed_in: list[str], principals: list[str]
) -> RowSQL:
    """The object as JSON, with the object at `path` in its data emptied unless the array at
    `unless_listed_in` holds one of `principals` (history entries show the ACL of their
    target only to callers in its `write` ACL, as a GET of the object does)."""

    def build(dialect: Dialect, cols: Columns) -> SqlAndParams:
        shown, params = dialect.array_holds_any(cols["data"], unless_listed_in, principals)
        hidden = dialect.with_empty_object(cols["data"], path)
        data = f"(CASE WHEN {shown} THEN {cols['data']} ELSE {hidden} END)"
        # `object_json` names the data column once: the parameters appear once too.
        return dialect.object_json({**cols, "data": data}), params

    return RowSQL(build, output_field=TextField())
