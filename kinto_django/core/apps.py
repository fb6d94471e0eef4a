from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The resource engine shared by every resource type (no concrete resource model)."""

    name = "kinto_django.core"
    label = "kinto_core"
    verbose_name = "Kinto engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for their side effects: the system checks, and the capabilities of the
        # flush, metrics and permissions endpoints.
        from kinto_django.core import (
            checks,  # noqa: F401
            site_users,
        )
        from kinto_django.core.api.endpoints import flush, permissions  # noqa: F401
        from kinto_django.core.observability import metrics  # noqa: F401

        site_users.connect()
