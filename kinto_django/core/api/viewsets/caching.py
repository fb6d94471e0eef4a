"""`Cache-Control`/`Expires` of resource reads (spec/00)."""

from __future__ import annotations

from kinto_django.core import timestamps
from kinto_django.core.api.viewsets.resource import ResourceMixin


class CacheHeadersMixin(ResourceMixin):
    """`Cache-Control`/`Expires` of resource reads (spec/00)."""

    def cache_headers(self) -> dict[str, str]:
        if self.identity.authenticated:
            return {"Cache-Control": "no-cache, no-store"}
        seconds = self.cache_expires()
        if seconds is None:
            return {"Cache-Control": "no-cache, no-store"}
        now = timestamps.now_ms()
        from kinto_django.core.api.responses import http_date

        if seconds <= 0:
            return {
                "Cache-Control": "max-age=0, must-revalidate, no-cache, no-store",
                "Expires": http_date(now),
                "Pragma": "no-cache",
            }
        return {"Cache-Control": f"max-age={seconds}", "Expires": http_date(now + seconds * 1000)}

    def cache_expires(self) -> int | None:
        return self.model.cache_expires_seconds(self.parents().found)
