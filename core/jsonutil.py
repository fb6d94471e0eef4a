"""JSON in and out: exact integers of any size, fast rendering, bounded input.

Request bodies are parsed with the standard library because it keeps integers exact (orjson
turns integers above 2**64 into floats); responses are rendered with orjson and fall back to
the standard library only for such integers.
"""

from __future__ import annotations

import json
import re
from typing import Any

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
    match = _UNSTORABLE.search(text)
    return f"Invalid character 0x{ord(match.group()):02X}" if match else ""


def has_unstorable(text: str) -> bool:
    return bool(_UNSTORABLE.search(text))
