"""System checks: settings that would make the server misbehave are reported at start-up."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Warning, register

from core.conf import DEFAULTS, kinto_settings


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
    if "dev-insecure" in str(kinto_settings.raw.get("userid_hmac_secret", "")):
        problems.append(
            Warning(
                "The development user id secret is in use: user ids are predictable. "
                "Set KINTO_USERID_HMAC_SECRET (and KINTO_PRODUCTION=true) in production.",
                id="kinto_core.W001",
            )
        )
    return problems
