"""Pagination tokens (`_token`, spec/03): the last object of a page, its offset and a nonce."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.query.sorting import Sort, value_at
from kinto_django.core.query.sql import (
    MISSING,
)

TOKEN_KEYS = {"last_object", "offset", "nonce"}


def parse_token(raw: str) -> dict[str, Any]:
    """Decode a pagination token; anything but one this server could have made is a 400."""
    bad = errors.invalid("querystring", None, "_token has invalid content")
    try:
        decoded = jsonutil.loads(
            base64.b64decode(raw.replace(" ", "+").encode("ascii"), validate=True)
        )
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise bad from None
    if not isinstance(decoded, dict) or set(decoded) != TOKEN_KEYS:
        raise bad
    last_object, offset = decoded["last_object"], decoded["offset"]
    if (
        not isinstance(last_object, dict)
        or not isinstance(decoded["nonce"], str)
        or isinstance(offset, bool)
        or not isinstance(offset, int)
        or offset < 0
    ):
        raise bad
    if "id" in last_object and not isinstance(last_object["id"], str):
        raise bad
    timestamp = last_object.get("last_modified", 0)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 <= timestamp < 2**63:
        raise bad
    if jsonutil.check_structure(last_object, kinto_settings.max_json_depth):
        raise bad
    return decoded


NONCE_PREFIX = "pagination-token-"


def server_nonce(nonce: Any) -> bool:
    """Whether a token's nonce has the shape `encode_token` gives (a junk one from a crafted
    token is never looked up: cache keys stay plain text)."""
    if not isinstance(nonce, str) or not nonce.startswith(NONCE_PREFIX):
        return False
    try:
        return str(uuid.UUID(nonce[len(NONCE_PREFIX) :])) == nonce[len(NONCE_PREFIX) :]
    except ValueError:
        return False


def encode_token(last_object: dict[str, Any], offset: int) -> str:
    payload = {
        "last_object": last_object,
        "offset": offset,
        "nonce": f"{NONCE_PREFIX}{uuid.uuid4()}",
    }
    return base64.b64encode(jsonutil.dumps(payload)).decode("ascii")


def token_object(obj: dict[str, Any], sort: list[Sort]) -> dict[str, Any]:
    """What the pagination token remembers of the last item: its sort field values."""
    remembered: dict[str, Any] = {}
    for entry in sort:
        value = value_at(obj, entry.field)
        if value is not MISSING:
            remembered[entry.field] = value
    return remembered
