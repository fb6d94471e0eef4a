"""Settings of the notifications app: defaults and a lazy, typed accessor.

Values come from `settings.KINTO` like the engine's (environment `KINTO_*` or INI file), read
on every access through `core.conf.kinto_settings`, so test overrides apply at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.conf import as_bool, kinto_settings

DEFAULTS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    # Live push over WebSocket and Server-Sent Events at `/v1/changes`.
    "live_enabled": (True, as_bool),
    # Subscriptions one connection may hold at once.
    "live_max_subscriptions": (20, int),
    # Objects read per query while replaying changes after `since`.
    "live_replay_page_size": (500, int),
    # Messages waiting for a slow client before its connection is closed (it resumes with
    # `since`): a stalled reader must not make the server buffer without bound.
    "live_send_queue_size": (5000, int),
    # Seconds between Server-Sent Events keep-alive comments (proxies close idle streams).
    "live_keepalive_seconds": (15, float),
    # Seconds between re-announcements of a process's channel-layer groups (Redis forgets a
    # group membership after its expiry, one day by default).
    "live_group_refresh_seconds": (3600, float),
}


class NotificationSettings:
    """Attribute access to the settings above (`notification_settings.live_enabled`)."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown notifications setting {name!r}")
        default, coerce = DEFAULTS[name]
        return kinto_settings.get(name, default, coerce)


notification_settings = NotificationSettings()
