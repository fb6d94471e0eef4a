from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The resource engine shared by every resource type (no concrete resource model)."""

    name = "core"
    label = "kinto_core"
    verbose_name = "Kinto engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import checks, flush  # noqa: F401  (system checks, flush capability)
