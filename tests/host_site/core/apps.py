from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The site's own top-level `core` app (like many sites have)."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
