"""System checks of the durable listeners' settings: a listener that cannot be built would
otherwise be skipped (its events never written) with only a log line."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.outbox.sinks import read_configuration

POSITIVE = (
    "event_dispatcher_poll_seconds",
    "event_dispatcher_retry_min_seconds",
    "event_dispatcher_retry_max_seconds",
    "event_dispatcher_lease_seconds",
)


@register()
def check_event_listeners(app_configs: Any = None, **kwargs: Any) -> list:
    problems = [
        Error(f"Invalid {problem}", id="kinto_notifications.E001")
        for problem in read_configuration().problems
    ]
    values: dict[str, float] = {}
    for name in (*POSITIVE, "event_outbox_retention_seconds"):
        try:
            values[name] = getattr(notification_settings, name)
        except (TypeError, ValueError):
            problems.append(
                Error(f"{name} must be a number of seconds", id="kinto_notifications.E002")
            )
    for name in POSITIVE:
        if name in values and not values[name] > 0:
            problems.append(Error(f"{name} must be positive", id="kinto_notifications.E002"))
    if values.get("event_outbox_retention_seconds", 0) < 0:
        problems.append(
            Error(
                "event_outbox_retention_seconds may not be negative", id="kinto_notifications.E002"
            )
        )
    low = values.get("event_dispatcher_retry_min_seconds")
    high = values.get("event_dispatcher_retry_max_seconds")
    if low is not None and high is not None and high < low:
        problems.append(
            Error(
                "event_dispatcher_retry_max_seconds must be at least "
                "event_dispatcher_retry_min_seconds",
                id="kinto_notifications.E002",
            )
        )
    return problems


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list:
    """Live changes go through the channel layer: without one, every live connection
    fails."""
    from django.conf import settings

    try:
        enabled = notification_settings.live_enabled
    except (TypeError, ValueError):
        return []
    if enabled and "default" not in (getattr(settings, "CHANNEL_LAYERS", None) or {}):
        return [
            Error(
                "Live changes are on (live_enabled) but CHANNEL_LAYERS has no 'default' "
                "layer: every WebSocket and event stream at /changes would fail.",
                hint="Set CHANNEL_LAYERS (channels.layers.InMemoryChannelLayer for one "
                "server process, channels_redis for several), or live_enabled = false.",
                id="kinto_notifications.E003",
            )
        ]
    return []
