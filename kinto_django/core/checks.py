"""System checks: settings that would make the server misbehave are reported at start-up."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.checks import Error, Warning, register

from kinto_django.conf import DEFAULTS, kinto_settings


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    problems: list = []
    for name in DEFAULTS:
        try:
            kinto_settings.get(name)
        except (TypeError, ValueError) as error:
            problems.append(
                Error(f"Invalid value for setting {name!r}: {error}", id="kinto_core.E001")
            )
    try:
        if kinto_settings.storage_max_fetch_size < 1:
            problems.append(
                Error("storage_max_fetch_size must be at least 1", id="kinto_core.E002")
            )
    except (TypeError, ValueError):
        pass
    problems += check_http_settings()
    if "dev-insecure" in str(kinto_settings.raw.get("userid_hmac_secret", "")):
        problems.append(
            Warning(
                "The development user id secret is in use: user ids are predictable. "
                "Set KINTO_USERID_HMAC_SECRET (and KINTO_PRODUCTION=true) in production.",
                id="kinto_core.W001",
            )
        )
    return problems


def check_http_settings() -> list:
    """Values that would otherwise be ignored silently (a malformed `eos` never ends the
    service) or make every response misbehave."""
    problems: list = []
    try:
        eos = kinto_settings.eos
        if eos:
            datetime.date.fromisoformat(eos[:10])
    except (TypeError, ValueError):
        problems.append(
            Error(
                f"eos must be a date such as 2030-01-31, not {kinto_settings.raw.get('eos')!r}",
                id="kinto_core.E003",
            )
        )
    try:
        percentage = kinto_settings.backoff_percentage
        if percentage is not None and not 0 <= percentage <= 100:
            problems.append(
                Error("backoff_percentage must be between 0 and 100", id="kinto_core.E004")
            )
    except (TypeError, ValueError):
        pass
    try:
        if kinto_settings.heartbeat_timeout_seconds <= 0:
            problems.append(
                Error("heartbeat_timeout_seconds must be positive", id="kinto_core.E005")
            )
    except (TypeError, ValueError):
        pass
    return problems
