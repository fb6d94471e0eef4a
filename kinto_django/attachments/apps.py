from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    """Files attached to records (`…/records/{id}/attachment`, spec/07), stored through
    Django's storage API: local disk by default, an S3-compatible store by configuration."""

    name = "kinto_django.attachments"
    label = "kinto_attachments"
    verbose_name = "Kinto attachments"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "kinto_django.attachments.urls"

    def ready(self) -> None:
        from kinto_django.attachments import (
            checks,  # noqa: F401  (registers the system checks)
            lifecycle,
            uploads,
        )
        from kinto_django.attachments.conf import RESOURCES_PREFIX, S3_PREFIX, declared_names
        from kinto_django.conf import declare_settings
        from kinto_django.core import capabilities
        from kinto_django.core.api import bridge
        from kinto_django.core.signals import resource_written, resources_purged, server_flushed

        # Under the ASGI bridge, upload bodies go to a temporary file, not to memory.
        bridge.spool_bodies(uploads.spooled_upload_limit)
        declare_settings(*declared_names(), prefixes=(RESOURCES_PREFIX, S3_PREFIX))
        resource_written.connect(lifecycle.guard_metadata, dispatch_uid="kinto-attachments")
        resources_purged.connect(lifecycle.forget_files, dispatch_uid="kinto-attachments")
        server_flushed.connect(lifecycle.forget_ledger, dispatch_uid="kinto-attachments")
        capabilities.register(
            capabilities.Feature(
                name="attachments",
                description="Add file attachments to records",
                url="https://github.com/Kinto/kinto-attachment/",
                enabled=lambda: True,
                extras=lifecycle.capability_extras,
                request_extras=lifecycle.capability_base_url,
                heartbeat=lifecycle.heartbeat,
            )
        )
