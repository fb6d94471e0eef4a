from typing import Any

from django.apps import AppConfig


def forget_readers(sender: Any, principals: list[str], **kwargs: Any) -> None:
    """Deleted principals (accounts) leave every entry's readers."""
    from kinto_django.history.models import HistoryEntry

    HistoryEntry.objects.forget_readers(list(principals))


class HistoryConfig(AppConfig):
    """The history of every bucket (`/buckets/{bid}/history`, spec/07), when enabled."""

    name = "kinto_django.history"
    label = "kinto_history"
    verbose_name = "Kinto history"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "kinto_django.history.urls"

    def ready(self) -> None:
        from kinto_django import jsonutil
        from kinto_django.core import capabilities, timestamps
        from kinto_django.core.backup import kinds
        from kinto_django.core.signals import principals_removed, resource_written
        from kinto_django.history import checks  # noqa: F401  (registers the system checks)
        from kinto_django.history.recording import (
            capability_extras,
            history_enabled,
            history_scopes,
            record_changes,
        )

        resource_written.connect(record_changes, dispatch_uid="kinto-history")
        principals_removed.connect(forget_readers, dispatch_uid="kinto-history-readers")
        # Backups hold the history only when asked (`kinto_backup --history`).
        kinds.register(
            "history",
            option="history",
            help="Include the history entries of the buckets.",
            fields=("read_principals",),
            json_text=lambda value: jsonutil.dumps(value).decode(),
        )
        timestamps.register_leading_scopes(history_scopes)
        capabilities.register(
            capabilities.Feature(
                name="history",
                description="Track changes on data.",
                url="http://kinto.readthedocs.io/en/latest/api/1.x/history.html",
                enabled=history_enabled,
                extras=capability_extras,
            )
        )
