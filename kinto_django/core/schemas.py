"""JSON-Schema validation of written objects (spec/08), compiled once and bounded in time.

When `experimental_collection_schema_validation` is on, records are validated against their
collection's `schema` and their bucket's `record:schema`, collections and groups against
their bucket's `collection:schema` / `group:schema` (the types call `validate` from their
`validate_object` hook). Schemas themselves are checked when stored (`kinto_django.core.validation`).

Schemas are written by clients, so validating against one must stay cheap and bounded:

- A schema is compiled (dialect chosen, checked against its meta-schema) once per process
  and reused until its content changes: validators are cached under a digest of the schema.
- `$ref` never leaves the schema: only the well-known meta-schemas resolve besides the
  schema's own parts; nothing is ever fetched.
- One validation may run for `schema_validation_timeout_seconds`: every keyword checks the
  deadline, and regular expressions (`pattern`, `patternProperties`) run on the `regex`
  module with the time left as timeout, since Python's `re` backtracks without bound
  (`^(a|aa)+$` against a long string) and cannot be interrupted.
- `uniqueItems` is linear (jsonschema compares unhashable items pairwise) and an endless
  `$ref` loop is a 400, not a crash.
- `format` is not asserted (no format checker), as in the reference server.

These bounds wrap jsonschema's keywords one by one, hence the length of this module.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from fractions import Fraction
from typing import Any

import jsonschema
import jsonschema._keywords
import jsonschema._legacy_keywords
import jsonschema._utils
import referencing
import referencing.exceptions
import regex
from jsonschema.validators import extend, validator_for

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import capabilities

logger = logging.getLogger(__name__)

capabilities.register(
    capabilities.Feature(
        name="schema",
        description=(
            "Records, collections and groups are validated against the JSON schemas of "
            "their collection and bucket."
        ),
        url="https://kinto.readthedocs.io/en/latest/api/1.x/collections.html#collection-json-schema",
        enabled=lambda: enabled(),
    )
)


def enabled() -> bool:
    """Whether objects are validated against schemas (the `schema` capability)."""
    return kinto_settings.experimental_collection_schema_validation


# --- bounds -------------------------------------------------------------------------------


class _SchemaProblem(Exception):
    """The schema, not the object, prevents validation (reported with the name `schema`)."""


_deadline: ContextVar[float | None] = ContextVar("kinto_schema_deadline", default=None)


def _too_long() -> _SchemaProblem:
    return _SchemaProblem(
        "Validation against the schema took longer than "
        f"{kinto_settings.schema_validation_timeout_seconds:g} seconds"
    )


def _time_left() -> float:
    """Seconds until the running validation's deadline (raises once it has passed)."""
    deadline = _deadline.get()
    left = deadline - time.monotonic() if deadline is not None else float("inf")
    if left <= 0:
        raise _too_long()
    return left


class _BoundedRegex:
    """Stands for the `re` module inside jsonschema's keyword modules (their only use of it
    is `re.search`). During a validation of ours, patterns run on the `regex` module, which
    accepts a timeout; elsewhere (e.g. meta-schema checks) `re` itself answers."""

    def search(self, pattern: str, string: str, flags: int = 0) -> Any:
        if _deadline.get() is None:
            return re.search(pattern, string, flags)
        compiled = _compile_pattern(pattern, flags)
        try:
            return compiled.search(string, timeout=_time_left())
        except TimeoutError:
            raise _too_long() from None

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)


_RE_QUANTIFIER = re.compile(r"\{\d*(?:,\d*)?\}")


def _as_regex_syntax(pattern: str) -> str:
    """The `re` pattern for `regex`: the two read the same patterns alike, except a `{` that
    starts no quantifier, a literal for `re` but a fuzzy-matching constraint (`a{e<=1}`) or
    an error for `regex`; escaped here."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            parts.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "{":
            quantifier = _RE_QUANTIFIER.match(pattern, index)
            if quantifier is None or quantifier.group() == "{}":
                char = "\\{"
        parts.append(char)
        index += 1
    return "".join(parts)


@functools.lru_cache(maxsize=512)
def _compile_pattern(pattern: str, flags: int) -> Any:
    """A compiled `regex` pattern (its own cache costs more than a search of a short string)."""
    try:
        return regex.compile(_as_regex_syntax(pattern), flags)
    except regex.error as error:
        raise _SchemaProblem(f"{pattern!r} is not a valid regular expression: {error}") from None


def _install_bounded_regex() -> None:
    """jsonschema has no hook for its regex engine: swap the module it calls. Refuse to
    start rather than run unbounded if a jsonschema release stops calling `re` there."""
    for module in (jsonschema._keywords, jsonschema._utils, jsonschema._legacy_keywords):
        current = getattr(module, "re", None)
        if current is not re and not isinstance(current, _BoundedRegex):
            raise ImportError(f"{module.__name__} no longer uses `re`: regexes are unbounded")
        module.re = _BoundedRegex()


_install_bounded_regex()


def _bounded(keyword: Callable) -> Callable:
    """A keyword implementation that first checks the running validation's deadline, so that
    schemas whose combinators multiply the work (`anyOf` of `anyOf` of ...) stop in time."""

    @functools.wraps(keyword)
    def check_deadline_then_apply(validator: Any, value: Any, instance: Any, schema: Any):
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() > deadline:
            raise _too_long()
        return keyword(validator, value, instance, schema)

    return check_deadline_then_apply


def _json_key(value: Any) -> Any:
    """A hashable stand-in equal for equal JSON values (1 == 1.0, but true != 1)."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_json_key(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _json_key(item)) for key, item in value.items()))
    raise TypeError(type(value).__name__)


def _make_unique_items(stock: Callable) -> Callable:
    """`uniqueItems` in linear time: jsonschema compares unhashable items (objects, arrays)
    pair by pair, quadratic in the length of a client-sized array."""

    def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterable:
        if not (unique and validator.is_type(instance, "array")):
            return
        try:
            keys = [_json_key(item) for item in instance]
        except TypeError:  # not JSON (another user of jsonschema): its own algorithm
            yield from stock(validator, unique, instance, schema)
            return
        if len(set(keys)) != len(keys):
            yield jsonschema.ValidationError(f"{instance!r} has non-unique elements")

    return unique_items


def _make_multiple_of(stock: Callable) -> Callable:
    """`multipleOf` exact for numbers beyond float range: jsonschema divides by a fractional
    divisor in floating point first, which overflows (a 400-digit integer is valid JSON)."""

    def multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Iterable:
        try:
            yield from list(stock(validator, divisor, instance, schema))
        except OverflowError:
            if (Fraction(instance) / Fraction(divisor)).denominator != 1:
                yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {divisor}")

    return multiple_of


def _bounded_dialect(stock: type) -> type:
    """The stock validator class of a dialect with every keyword bounded.

    It is registered for its dialect's `$schema` URI, so that subschemas switching dialect
    (a nested `$schema`, a `$ref` to a meta-schema) keep the bounds too. Outside of our
    validations (no deadline) it behaves exactly as the stock class.
    """
    keywords = dict(stock.VALIDATORS)
    if "uniqueItems" in keywords:
        keywords["uniqueItems"] = _make_unique_items(keywords["uniqueItems"])
    for name in ("multipleOf", "divisibleBy"):  # Draft 3 names it `divisibleBy`
        if name in keywords:
            keywords[name] = _make_multiple_of(keywords[name])
    bounded = {name: _bounded(keyword) for name, keyword in keywords.items()}
    return extend(stock, validators=bounded, version=f"bounded {stock.__name__}")


_DIALECTS = {
    stock: _bounded_dialect(stock)
    for stock in (
        jsonschema.Draft3Validator,
        jsonschema.Draft4Validator,
        jsonschema.Draft6Validator,
        jsonschema.Draft7Validator,
        jsonschema.Draft201909Validator,
        jsonschema.Draft202012Validator,
    )
}
# Without `$schema`, the latest dialect (as the reference server).
_DEFAULT_DIALECT = _DIALECTS[jsonschema.Draft202012Validator]


def _refuse_retrieval(uri: str) -> referencing.Resource:
    raise referencing.exceptions.NoSuchResource(ref=uri)


# `$ref`s resolve inside the schema and to the meta-schemas jsonschema ships; any other URI
# (http, relative file...) is unresolvable rather than fetched.
_REGISTRY: referencing.Registry = referencing.Registry(retrieve=_refuse_retrieval)


# --- compiled validators ------------------------------------------------------------------


class _Compiled:
    """A schema ready to validate with, or why it cannot be used."""

    __slots__ = ("validator", "problem")

    def __init__(self, validator: Any = None, problem: str | None = None) -> None:
        self.validator = validator
        self.problem = problem


def _in_key_order(value: Any) -> Any:
    """`value` with the keys of every object sorted.

    Keywords and properties are checked in the order of the schema's keys, and PostgreSQL
    (jsonb) does not keep the order they were written in: sorted, the error reported first
    when several apply is the same on every database.
    """
    if isinstance(value, dict):
        return {key: _in_key_order(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_in_key_order(item) for item in value]
    return value


def _compile(schema: dict[str, Any]) -> _Compiled:
    """Pick the dialect (`$schema`, else Draft 2020-12) and check the schema against its
    meta-schema: the stored-schema check only used Draft 7's."""
    schema = _in_key_order(schema)
    try:
        dialect = validator_for(schema, default=_DEFAULT_DIALECT)
    except ValueError:  # a `$schema` that is not even a URI: no known dialect
        dialect = _DEFAULT_DIALECT
    try:
        dialect.check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(part) for part in error.path)
        return _Compiled(problem=f"{where}: {error.message}" if where else error.message)
    return _Compiled(validator=dialect(schema, registry=_REGISTRY))


class ValidatorCache:
    """Compiled validators by schema digest: a bounded LRU, per process, thread-safe.

    Bounded in entries and in the JSON size of the schemas it holds, since a schema may be
    as large as `schema_max_bytes`.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, tuple[_Compiled, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple, size: int, build: Callable[[], _Compiled]) -> _Compiled:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[0]
        compiled = build()  # outside the lock: other schemas need not wait
        with self._lock:
            self.misses += 1
            if key not in self._entries:
                self._entries[key] = (compiled, size)
                self._bytes += size
            while self._entries and (
                len(self._entries) > self.max_entries or self._bytes > self.max_bytes
            ):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted
        return compiled

    def info(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "entries": len(self._entries)}


_cache = ValidatorCache(max_entries=256, max_bytes=32 * 1024 * 1024)


# --- validation ---------------------------------------------------------------------------


def validate(
    data: dict[str, Any], schema: dict[str, Any], *, object_id: str, ignored: tuple[str, ...]
) -> None:
    """Raise a 400 (errno 107) unless `data` conforms to `schema` (spec/08).

    `ignored` fields (`last_modified`, the record's `schema`...) are left out of the data and
    of the schema's `required`; so is `id`, unless the schema's `properties` mention it, in
    which case the object's id is validated with the rest.
    """
    properties = schema.get("properties")
    mentions_id = isinstance(properties, dict) and "id" in properties
    skipped = set(ignored) if mentions_id else {*ignored, "id"}
    instance = {key: value for key, value in data.items() if key not in skipped}
    if mentions_id:
        instance["id"] = object_id
    text = jsonutil.dumps(schema)
    key = (hashlib.blake2b(text, digest_size=20).digest(), tuple(sorted(skipped)))
    compiled = _cache.get(key, len(text), lambda: _compile(_effective(schema, skipped)))
    if compiled.problem is not None:
        raise errors.invalid("body", "schema", compiled.problem)
    token = _deadline.set(time.monotonic() + kinto_settings.schema_validation_timeout_seconds)
    try:
        error = next(iter(compiled.validator.iter_errors(instance)), None)
    except _SchemaProblem as problem:
        raise errors.invalid("body", "schema", str(problem)) from None
    except referencing.exceptions.Unresolvable as unresolvable:
        raise errors.invalid("body", "schema", str(unresolvable)) from None
    except RecursionError:
        raise errors.invalid(
            "body", "schema", "Validation against the schema recursed without end"
        ) from None
    except (ValueError, ArithmeticError) as error:
        # jsonschema computes with what clients wrote (a nested `$schema` that is not a URI,
        # numbers beyond float range...): a client error, logged in case it hides a bug.
        logger.warning("Schema validation failed: %r", error, exc_info=True)
        raise errors.invalid(
            "body", "schema", f"The schema cannot be applied to this object: {error}"
        ) from None
    finally:
        _deadline.reset(token)
    if error is not None:
        raise errors.invalid("body", _field_name(error), error.message)


def _effective(schema: dict[str, Any], skipped: set[str]) -> dict[str, Any]:
    """The schema without the skipped fields in its `required` list (nor an empty list,
    which older dialects refuse)."""
    required = schema.get("required")
    if not isinstance(required, list):
        return schema
    kept = [name for name in required if name not in skipped]
    if kept:
        return {**schema, "required": kept}
    return {key: value for key, value in schema.items() if key != "required"}


def _field_name(error: jsonschema.ValidationError) -> Any:
    """The detail's `name`: the last step of the failing path; for a failure of the object
    itself, the last item of the keyword's value (`required: ["a", "b"]` names `b` even
    when `a` is missing, as the reference server does), else the keyword."""
    if error.path:
        return error.path[-1]
    value = error.validator_value
    if isinstance(value, (list, str)) and value:
        last = value[-1]
        if isinstance(last, (str, int, float)) or last is None:
            return last
    return error.schema_path[-1] if error.schema_path else None


def cache_info() -> dict[str, int]:
    """Hits, misses (compilations) and size of the process's validator cache."""
    return _cache.info()
