"""Querystring values (spec/03): strict decoding, numbers, timestamps and `_limit`."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings

FIELD_NAME = re.compile(r"[\w]+(\.[\w]+)*")


MAX_TIMESTAMP_AHEAD_MS = 24 * 3600 * 1000


def incorrect_encoding() -> errors.KintoError:
    return errors.KintoError(
        400,
        errors.ERRNO.INVALID_PARAMETERS,
        "A request with an incorrect encoding in the querystring was received. "
        "Please make sure your requests are encoded in UTF-8.",
    )


def utf8_once_decoded(raw: str) -> bool:
    """Whether a raw URL part (WSGI text: its bytes as latin-1) is UTF-8 once
    percent-decoded; text that is no such bytes (not from a WSGI server) counts as decoded."""
    try:
        unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
    except UnicodeEncodeError:
        return True
    except UnicodeDecodeError:
        return False
    return True


def check_querystring_encoding(query_string: str) -> None:
    """Refuse (400) a raw query string that is not UTF-8 once percent-decoded."""
    if not utf8_once_decoded(query_string):
        raise incorrect_encoding()


def querystring_params(query_string: str) -> list[tuple[str, str]]:
    """Decode the raw query string strictly (bad UTF-8 and oversize input are 400s)."""
    if len(query_string) > kinto_settings.max_querystring_length:
        raise errors.invalid(
            "querystring",
            None,
            f"Query string is longer than {kinto_settings.max_querystring_length} characters",
        )
    try:
        # WSGI hands the raw bytes over as latin-1 text (PEP 3333): unencoded UTF-8
        # characters are read back as UTF-8, as percent-encoded ones are by parse_qsl.
        try:
            query_string = query_string.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            pass  # already real text (not from a WSGI server)
        params = parse_qsl(
            query_string,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=kinto_settings.max_query_params,
        )
    except UnicodeDecodeError:
        raise incorrect_encoding() from None
    except ValueError:
        raise errors.invalid(
            "querystring",
            None,
            f"Too many query parameters (at most {kinto_settings.max_query_params})",
        ) from None
    return params


def coerce(raw: str) -> Any:
    """A filter value: JSON when it parses, the raw string otherwise. Never raises."""
    try:
        return jsonutil.loads(raw)
    except (ValueError, RecursionError):
        return raw


def invalid_value(param: str) -> errors.KintoError:
    return errors.invalid("querystring", param, f"Invalid value for {param}")


# ASCII blanks only: `\s` would also accept characters that int() refuses (e.g. \x1f).
INTEGER_TEXT = re.compile(r"[ \t\n\r\f\v]*[-+]?\d{1,400}[ \t\n\r\f\v]*", re.ASCII)
NUMBER_TEXT = re.compile(
    r"[ \t\n\r\f\v]*-?\d{1,400}(\.\d{1,400})?([eE][-+]?\d{1,3})?[ \t\n\r\f\v]*", re.ASCII
)
MAX_INTEGER_PARAM = 2**63


def parse_number(param: str, raw: str) -> int | None:
    """An integer directive (`_limit`, `_since`…): integer, quoted integer or a JSON number
    (truncated), as the reference validates them. None for `null` and the empty string.
    """
    text = raw
    quoted = len(text) >= 2 and text.startswith('"') and text.endswith('"')
    if quoted:
        text = text[1:-1]
    elif text.strip() in ("", "null"):
        return None
    if INTEGER_TEXT.fullmatch(text):
        value = int(text)
    elif not quoted and NUMBER_TEXT.fullmatch(text) and abs(float(text)) != float("inf"):
        value = int(float(text))
    else:
        raise errors.invalid("querystring", param, f'"{text}" is not a number')
    if value < 0:
        raise errors.invalid("querystring", param, f"{value} is less than minimum value 0")
    if value > MAX_INTEGER_PARAM:
        raise errors.invalid(
            "querystring", param, f"{value} is greater than maximum value {MAX_INTEGER_PARAM}"
        )
    return value


def check_timestamp(param: str, value: int) -> int:
    """Timestamps in filters must be before now + 24h (spec/02)."""
    if not 0 <= value < int(time.time() * 1000) + MAX_TIMESTAMP_AHEAD_MS:
        raise invalid_value(param)
    return value


def parse_timestamp(param: str, raw: str, strict_number_message: bool = False) -> int | None:
    """A `last_modified` value: integer or quoted integer, 0 ≤ v < now + 24h.

    With `strict_number_message` (the `_since`/`_before`/`_to` directives and the plain
    `last_modified` parameter) the value is read like the other integer directives, with
    their error messages; `null` then means "not given" (None).
    """
    if strict_number_message:
        if raw.strip() == "" or (raw.strip() == "null" and param == "last_modified"):
            raise invalid_value(param)
        value = parse_number(param, raw)
        return None if value is None else check_timestamp(param, value)
    text = raw.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    if not re.fullmatch(r"-?\d{1,30}", text):
        raise invalid_value(param)
    return check_timestamp(param, int(text))


def parse_limit(raw: str) -> int | None:
    """`_limit`: None when absent, empty, `null` or 0 (the page size is then the default)."""
    return parse_number("_limit", raw) or None


def split_list(raw: str) -> list[str]:
    """Items of an `in_`/`exclude_` value; empty items are dropped (`in_v=` is an empty list)."""
    return [item for item in raw.split(",") if item != ""]


def checked(param: str, value: Any) -> Any:
    """A coerced value that the database can store and compare (no NUL, no lone surrogate)."""
    problem = jsonutil.check_structure(value, kinto_settings.max_json_depth)
    if problem:
        raise errors.invalid("querystring", param, problem)
    return value
