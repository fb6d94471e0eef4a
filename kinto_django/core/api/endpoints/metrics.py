"""`GET /__metrics__`: the metrics of `kinto_django.core.observability`, for Prometheus."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from kinto_django.core.api.base import ProtocolView
from kinto_django.core.observability.metrics import exposition

logger = logging.getLogger(__name__)


class MetricsView(ProtocolView):
    """`GET /__metrics__`: the metrics in Prometheus' text format, unauthenticated (as the
    reference's plugin serves them); turned off with `metrics_enabled = false`."""

    negotiate_accept = False

    def get(self, request: Any) -> HttpResponse:
        try:
            content = exposition()
        except FileNotFoundError:
            # The multi-process directory vanished under a running server: say so in the
            # logs, and answer with what we have (nothing) rather than a 500 to the scraper.
            logger.warning("Prometheus multi-process directory missing", exc_info=True)
            content = b""
        return HttpResponse(content, content_type=CONTENT_TYPE_LATEST)
