from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    """Authentication (principals), object ACLs and group memberships."""

    name = "kinto_django.permissions"
    label = "kinto_permissions"
    verbose_name = "Kinto permissions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from kinto_django.permissions import checks, store  # noqa: F401 (checks: registered)

        # Permission rows are re-created with new ids after a flush or migrate.
        post_migrate.connect(store.clear_caches, dispatch_uid="kinto_permissions_clear_caches")
