from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The site's own top-level `accounts` app, with its user model."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
