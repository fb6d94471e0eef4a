"""System checks: settings that would make the server misbehave are reported at start-up."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from kinto_django.conf import DEFAULTS, kinto_settings, known_setting
from kinto_django.core.observability.metrics import metrics_enabled

PROTOCOL_MIDDLEWARE = "kinto_django.core.api.middleware.ProtocolMiddleware"


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
    if not kinto_settings.raw.get("userid_hmac_secret"):
        problems.append(
            Warning(
                "userid_hmac_secret is empty: Basic-auth user ids and personal bucket ids can "
                "be computed by anybody.",
                hint="Set KINTO['userid_hmac_secret'] to a long random value, the same on "
                "every server and never changed (it keys the user ids).",
                id="kinto_core.W002",
            )
        )
    unknown = sorted(name for name in kinto_settings.raw if not known_setting(name))
    if unknown:
        problems.append(
            Warning(
                f"Unknown KINTO settings, ignored: {', '.join(unknown)}.",
                hint="Check their spelling against the README's configuration table.",
                id="kinto_core.W006",
            )
        )
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


@register()
def check_site_wiring(app_configs: Any = None, **kwargs: Any) -> list:
    """What a host site must add for the API to speak the protocol (README, "Embed in your
    Django site")."""
    problems: list = []
    if not any(protocol_middleware(entry) for entry in getattr(settings, "MIDDLEWARE", [])):
        problems.append(
            Error(
                "The API's protocol middleware is not in MIDDLEWARE: no CORS pre-flight "
                "answers (browsers get 405), no protocol headers, no JSON errors for what "
                "escapes a view.",
                hint=f"Add {PROTOCOL_MIDDLEWARE!r} to MIDDLEWARE, before the session and "
                "authentication middleware.",
                id="kinto_core.E006",
            )
        )
    if not hasattr(settings, "KINTO"):
        problems.append(
            Warning(
                "There is no KINTO setting: the API runs with its defaults, among them "
                "auth_policies = basicauth (the site's logged-in users are anonymous to it) "
                "and an empty userid_hmac_secret.",
                hint='Add KINTO = {...} to the settings (README, "Embed in your Django site").',
                id="kinto_core.W003",
            )
        )
    return problems


def protocol_middleware(entry: str) -> bool:
    from kinto_django.core.api.middleware import ProtocolMiddleware

    try:
        middleware = import_string(entry)
    except ImportError:
        return False
    return isinstance(middleware, type) and issubclass(middleware, ProtocolMiddleware)


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list:
    """`manage.py check --deploy`: what is fine on a laptop and not on a server."""
    problems: list = []
    if "basicauth" in kinto_settings.auth_policies:
        problems.append(
            Warning(
                "The basicauth policy is on: any user name and password pair is accepted as "
                "a user of its own, with no account behind it.",
                hint="Use accounts (auth_policies = account) or the site's users (django, or "
                "a DRF authentication class) in production.",
                id="kinto_core.W004",
            )
        )
    if metrics_enabled():
        problems.append(
            Warning(
                "/__metrics__ answers anybody (request counts per endpoint and status).",
                hint="Restrict it at the proxy, or set metrics_enabled = false.",
                id="kinto_core.W005",
            )
        )
    return problems
