"""DRF renderer for the few places that return a DRF `Response`: orjson output."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import BaseRenderer

from kinto_django import jsonutil


class JSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return b"" if data is None else jsonutil.dumps(data)
