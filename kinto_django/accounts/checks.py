"""Start-up checks of the account settings (spec/05)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from kinto_django.conf import kinto_settings


@register()
def check_account_principals(app_configs: Any = None, **kwargs: Any) -> list:
    """Who may create accounts for others must be an admin (except open sign-up)."""
    create = kinto_settings.principals("account_create_principals")
    write = set(kinto_settings.principals("account_write_principals"))
    extra = [p for p in create if p != "system.Everyone" and p not in write]
    if extra:
        return [
            Error(
                f"account_create_principals {extra} must also be in account_write_principals",
                id="kinto_accounts.E001",
            )
        ]
    return []
