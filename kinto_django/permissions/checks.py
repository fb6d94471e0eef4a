"""System checks of the permissions settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string
from rest_framework.authentication import BaseAuthentication

from kinto_django.conf import kinto_settings
from kinto_django.permissions.authentication import POLICIES


@checks.register(checks.Tags.security)
def check_auth_policies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every `auth_policies` entry is a known policy or a DRF authentication class: a typo
    would otherwise leave its users anonymous without a word."""
    problems = []
    for name in kinto_settings.auth_policies:
        if name in POLICIES:
            continue
        try:
            policy = import_string(name) if "." in name else None
        except ImportError:
            policy = None
        if not (isinstance(policy, type) and issubclass(policy, BaseAuthentication)):
            problems.append(
                checks.Error(
                    f"Unknown authentication policy {name!r} in auth_policies.",
                    hint=f"Use one of {', '.join(sorted(POLICIES))} or the dotted path of a "
                    "DRF authentication class.",
                    id="kinto_permissions.E001",
                )
            )
    return problems


@checks.register(checks.Tags.compatibility)
def check_guardian_anonymous_user(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """django-guardian (installed for its permission models) adds a user named `AnonymousUser`
    to the site's user table after every migrate unless told not to; the API never uses it."""
    if getattr(settings, "ANONYMOUS_USER_NAME", "AnonymousUser") is None:
        return []
    return [
        checks.Warning(
            "django-guardian will add a user named AnonymousUser to your user table, which "
            "the storage apps do not use.",
            hint="Set ANONYMOUS_USER_NAME = None, unless the site uses guardian's anonymous "
            "user itself.",
            id="kinto_permissions.W001",
        )
    ]
