"""Request bodies and content negotiation, at DRF's seams: the bounded JSON parsers (size,
depth, storable characters) and the negotiation of the media types the API reads and writes
(spec/00: `Accept` must allow JSON, a body must be one of the method's types)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.context import request_state

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
    state = request_state(request)
    if state.body is not None:
        return state.body
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
    state.body = body
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
    return decode_json(read_body(request))


def decode_json(raw: bytes) -> Any:
    """A JSON body: an object or an array within `max_json_depth` (None when blank)."""
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


class JSONParser(BaseParser):
    """`application/json` bodies through `decode_json`: bounded, and read once (the request's
    state keeps the raw body for the requests run on its behalf)."""

    media_type = JSON_TYPE

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return parse_json_body(parser_context["request"]._request)


class MergePatchParser(JSONParser):
    """RFC 7396 JSON Merge Patch bodies (`PATCH`)."""

    media_type = MERGE_PATCH_TYPE


class JSONPatchParser(JSONParser):
    """RFC 6902 JSON Patch bodies (`PATCH`)."""

    media_type = JSON_PATCH_TYPE


class ProtocolNegotiation(BaseContentNegotiation):
    """JSON in, JSON out. A body without `Content-Type` is read as JSON; an `Accept` that
    refuses JSON is a 406 on the endpoints that negotiate it (`view.negotiate_accept`),
    whatever the host site's `REST_FRAMEWORK` settings say."""

    def select_parser(self, request: Request, parsers: list[BaseParser]) -> BaseParser | None:
        content_type = media_type(request.content_type or "")
        if not content_type:
            return parsers[0] if parsers else None
        return next((p for p in parsers if p.media_type == content_type), None)

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        view = request.parser_context.get("view")
        accept = request.META.get("HTTP_ACCEPT")
        if getattr(view, "negotiate_accept", True) and accept and not accepts_json(accept):
            description = f"Accept header should be one of ['{JSON_TYPE}']"
            raise errors.invalid("header", "Accept", description, status=406)
        return renderers[0], renderers[0].media_type
