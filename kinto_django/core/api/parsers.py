"""Request bodies and content negotiation: the media types the API reads and writes, and
the bounded JSON body (size, depth, storable characters)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings

JSON_TYPE = "application/json"
MERGE_PATCH_TYPE = "application/merge-patch+json"
JSON_PATCH_TYPE = "application/json-patch+json"


def media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        candidate = media_type(part)
        params = part.split(";")[1:]
        if any(
            p.strip().replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params
        ):
            continue
        if candidate in ("*/*", "application/*", JSON_TYPE, "") or candidate.endswith("+json"):
            return True
    return False


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refusing more than `max_request_body_bytes` (413)."""
    cached = getattr(request, "kinto_body", None)
    if cached is not None:
        return cached
    limit = kinto_settings.max_request_body_bytes
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large(limit)
    body = request.read(limit + 1) if declared else b""
    if len(body) > limit:
        raise too_large(limit)
    request.kinto_body = body
    return body


def too_large(limit: int) -> errors.KintoError:
    return errors.KintoError(
        413,
        errors.ERRNO.INVALID_PARAMETERS,
        f"Request body is larger than {limit} bytes",
        error="Request Entity Too Large",
    )


def parse_json_body(request: HttpRequest) -> Any:
    """The JSON body (None when empty), checked for syntax, depth and storable characters."""
    raw = read_body(request)
    if not raw.strip():
        return None
    try:
        value = jsonutil.loads(raw)
    except jsonutil.JSONInputError as error:
        description = f"Invalid JSON: {error}"
        raise errors.invalid_many(
            [
                {"location": "body", "name": "", "description": description},
                {"location": "body", "name": "", "description": "Required"},
            ]
        ) from None
    if not isinstance(value, (dict, list)):
        raise errors.invalid_many(
            [
                {
                    "location": "body",
                    "name": "",
                    "description": "Should be a JSON object or an array",
                },
                {"location": "body", "name": "", "description": "Required"},
            ]
        )
    problem = jsonutil.check_structure(value, kinto_settings.max_json_depth)
    if problem:
        raise errors.invalid("body", "", problem)
    return value
