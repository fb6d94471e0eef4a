from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """User accounts with passwords (`/v1/accounts`) and the `account` authentication policy."""

    name = "accounts"
    label = "kinto_accounts"
    verbose_name = "Kinto accounts"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "accounts.urls"

    def ready(self) -> None:
        from accounts import checks  # noqa: F401  (registers the system checks)
        from accounts.policy import AccountPolicy
        from accounts.viewsets import accounts_enabled
        from core import capabilities
        from permissions.auth import register_policy

        register_policy(AccountPolicy())
        capabilities.register(
            capabilities.Feature(
                name="accounts",
                description="Manage user accounts.",
                url="https://kinto.readthedocs.io/en/latest/api/1.x/accounts.html",
                enabled=accounts_enabled,
                extras=lambda: {"validation_enabled": False},
            )
        )
