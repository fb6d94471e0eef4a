"""Settings of the notifications app: defaults and a lazy, typed accessor.

Values come from `settings.KINTO` like the engine's (environment `KINTO_*` or INI file), read
on every access through `kinto_django.conf.kinto_settings`, so test overrides apply at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kinto_django.conf import as_bool, as_list, kinto_settings

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
    # Bytes the messages waiting for one client may hold (a change's body counts once per
    # connection, whatever the number of its subscriptions it goes to).
    "live_send_queue_bytes": (8 * 1024 * 1024, int),
    # Live connections (WebSockets and event streams) one user may hold in one server
    # process; anonymous clients count per address.
    "live_max_connections_per_user": (10, int),
    # Seconds between Server-Sent Events keep-alive comments (proxies close idle streams).
    "live_keepalive_seconds": (15, float),
    # Seconds between re-announcements of a process's channel-layer groups: Redis forgets a
    # group membership after a day, and all of them when it restarts empty (deliveries then
    # resume within this delay).
    "live_group_refresh_seconds": (60, float),
    # How long a live change waits for those committed before it in its list, whose events
    # are still on their way (a sender that died after its commit would hold it that long).
    "live_order_wait_seconds": (2.0, float),
    # Durable listeners (outbox.sinks) and their dispatcher (outbox.dispatcher).
    "event_listeners": ([], as_list),
    # Run a dispatcher thread in every server process (only the lease holder delivers).
    "event_dispatcher_in_server": (False, as_bool),
    # Seconds between looks at the outbox when idle (a commit in the process wakes it).
    "event_dispatcher_poll_seconds": (1.0, float),
    # Retry delays after failed deliveries: doubled from the first, capped at the second.
    "event_dispatcher_retry_min_seconds": (1.0, float),
    "event_dispatcher_retry_max_seconds": (300.0, float),
    # How long a dispatcher's lease lasts unless renewed (its crash delays delivery that long).
    "event_dispatcher_lease_seconds": (30.0, float),
    # Seconds delivered entries are kept (for inspection) before being deleted.
    "event_outbox_retention_seconds": (7 * 86400, float),
}


class NotificationSettings:
    """Attribute access to the settings above (`notification_settings.live_enabled`)."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown notifications setting {name!r}")
        default, coerce = DEFAULTS[name]
        return kinto_settings.get(name, default, coerce)


notification_settings = NotificationSettings()
