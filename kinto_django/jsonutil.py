"""JSON in and out: exact integers of any size, fast rendering, bounded input.

Request bodies are parsed with the standard library because it keeps integers exact (orjson
turns integers above 2**64 into floats); responses are rendered with orjson and fall back to
the standard library only for such integers.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonpatch
import jsonpointer
import orjson

_BIG_INT = re.compile(rb"\d{19}")
# NUL cannot be stored by PostgreSQL; lone surrogates cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONInputError(ValueError):
    """Input that is not acceptable JSON; the message is shown to the client."""


def _reject_constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not a valid JSON value")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JSONInputError(f"Number {text[:20]} is out of range")
    return value


def loads(data: bytes | str) -> Any:
    """Parse client JSON exactly; raises JSONInputError with a readable message."""
    try:
        return json.loads(data, parse_constant=_reject_constant, parse_float=_parse_float)
    except JSONInputError:
        raise
    except RecursionError:
        raise JSONInputError("Nesting is too deep") from None
    except json.JSONDecodeError as error:
        raise JSONInputError(
            f"{error.msg}: line {error.lineno} column {error.colno} (char {error.pos})"
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise JSONInputError(str(error)) from None


def loads_stored(data: bytes | str) -> Any:
    """Parse JSON produced by the database: orjson unless a long integer may lose precision."""
    raw = data.encode() if isinstance(data, str) else data
    if _BIG_INT.search(raw):
        return json.loads(raw)
    return orjson.loads(raw)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; slashes are not escaped.

    orjson refuses integers above 64 bits, nesting deeper than 255 and lone surrogates; the
    standard library then renders them (surrogates as `\\udXXX` escapes, so the output is
    always valid UTF-8).
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def check_structure(value: Any, max_depth: int) -> str | None:
    """Why a parsed body cannot be stored (too deep, NUL characters), or None when it can."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                return f"Nesting is deeper than {max_depth} levels"
            for key, child in node.items():
                if _UNSTORABLE.search(key):
                    return invalid_character_message(key)
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            if depth > max_depth:
                return f"Nesting is deeper than {max_depth} levels"
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str):
            if _UNSTORABLE.search(node):
                return invalid_character_message(node)
    return None


def invalid_character_message(text: str) -> str:
    """`Invalid character 0x00` for the first character of `text` that cannot be stored."""
    match = _UNSTORABLE.search(text)
    return f"Invalid character 0x{ord(match.group()):02X}" if match else ""


def has_unstorable(text: str) -> bool:
    """Whether `text` holds NUL or a lone surrogate."""
    return bool(_UNSTORABLE.search(text))


def depth_of(value: Any) -> int:
    """Levels of nested objects/arrays in `value` (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def _pointer_length(pointer: Any) -> int:
    return pointer.count("/") if isinstance(pointer, str) else 0


def apply_patch(document: Any, operations: list[Any], max_bytes: int, max_depth: int) -> Any:
    """RFC 6902 JSON Patch on a copy of `document`, bounded in size and depth.

    A body of a few kilobytes can otherwise exhaust the server: each `copy` may double the
    document (40 copies hold 2**40 values), and copying a branch under itself doubles its
    depth. Copies may add at most `max_bytes` of JSON in total, and no step may nest the
    document deeper than `max_depth` (the document itself is level 1), so the work stays
    proportional to the body. Raises JSONInputError for those, jsonpatch's exceptions for
    operations that fail.
    """
    result = copy.deepcopy(document)
    depth_bound = depth_of(result)
    copied_bytes = 0
    for operation in operations:
        if not isinstance(operation, dict):
            raise jsonpatch.InvalidJsonPatch("Operation must be an object")
        op, target = operation.get("op"), operation.get("path")
        inserted = 0
        if op in ("add", "replace"):
            inserted = _pointer_length(target) + depth_of(operation.get("value"))
        elif op == "copy":
            try:
                value = jsonpointer.resolve_pointer(result, operation.get("from"))
            except (jsonpointer.JsonPointerException, TypeError, AttributeError):
                value = None  # the operation itself reports the bad pointer
            copied_bytes += len(dumps(value))
            if copied_bytes > max_bytes:
                raise JSONInputError(f"copies would add more than {max_bytes} bytes")
            inserted = _pointer_length(target) + depth_of(value)
        elif op == "move":
            # The moved branch is at most as deep as the deepest part of the document.
            inserted = (
                _pointer_length(target) + depth_bound - _pointer_length(operation.get("from"))
            )
        if inserted > max_depth:
            raise JSONInputError(f"Nesting is deeper than {max_depth} levels")
        depth_bound = max(depth_bound, inserted)
        result = jsonpatch.JsonPatch([operation]).apply(result, in_place=True)
    return result
