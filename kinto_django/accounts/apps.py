from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def check_backed_up(data: dict[str, Any]) -> str | None:
    """A restored account needs its password hash (the data is restored as it is)."""
    password = data.get("password")
    if not isinstance(password, str) or not password:
        return "data.password should be the password hash"
    return None


def forget_restored(model: Any, accounts: list[Any]) -> None:
    """Restored accounts drop their cached password checks (a replaced hash works at once)."""
    from kinto_django.accounts import passwords

    passwords.forget([account.object_id for account in accounts])


class AccountsConfig(AppConfig):
    """User accounts with passwords (`/v1/accounts`) and the `account` authentication policy."""

    name = "kinto_django.accounts"
    label = "kinto_accounts"
    verbose_name = "Kinto accounts"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "kinto_django.accounts.urls"

    def ready(self) -> None:
        from kinto_django.accounts import checks  # noqa: F401  (registers the system checks)
        from kinto_django.accounts.authentication import AccountAuthentication
        from kinto_django.accounts.viewsets import accounts_enabled
        from kinto_django.conf import declare_settings
        from kinto_django.core import capabilities
        from kinto_django.core.backup import kinds
        from kinto_django.permissions.authentication import register_policy

        declare_settings("account_cache_ttl_seconds", "account_login_max_failures_per_minute")

        register_policy(AccountAuthentication.name, AccountAuthentication)
        # Password hashes are secrets: backups hold accounts only when asked to.
        kinds.register(
            "account",
            option="accounts",
            help="Include accounts, with their password hashes (secrets: protect the file).",
            check=check_backed_up,
            restored=forget_restored,
        )
        capabilities.register(
            capabilities.Feature(
                name="accounts",
                description="Manage user accounts.",
                url="https://kinto.readthedocs.io/en/latest/api/1.x/accounts.html",
                enabled=accounts_enabled,
                extras=lambda: {"validation_enabled": False},
            )
        )
