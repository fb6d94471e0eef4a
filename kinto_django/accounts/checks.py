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


@register()
def check_principals_are_prefixed(app_configs: Any = None, **kwargs: Any) -> list:
    """`account_*_principals` name principals (`account:admin`), not bare account ids: a bare
    `admin` grants nothing to the account `admin`."""
    problems = []
    for name in ("create", "read", "write"):
        setting = f"account_{name}_principals"
        for principal in kinto_settings.principals(setting):
            if ":" not in principal and not principal.startswith(("system.", "/")):
                problems.append(
                    Error(
                        f"{setting} lists {principal!r}, which is no principal.",
                        hint=f"Write account:{principal} for the account {principal!r}.",
                        id="kinto_accounts.E002",
                    )
                )
    return problems
