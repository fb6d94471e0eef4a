from typing import Any

from django.apps import AppConfig
from django.core.signals import request_finished
from django.db.backends.signals import connection_created


def set_timeouts(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Every new PostgreSQL connection cancels statements running, or waiting for a lock,
    longer than `storage_statement_timeout_ms` / `storage_lock_timeout_ms`: a request then
    answers 503 instead of holding its worker thread (and its locks) for good."""
    if connection.vendor != "postgresql":
        return
    from kinto_django.conf import kinto_settings

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false), "
            "set_config('lock_timeout', %s, false)",
            [
                str(max(0, kinto_settings.storage_statement_timeout_ms)),
                str(max(0, kinto_settings.storage_lock_timeout_ms)),
            ],
        )


def release_connection_when_short(**kwargs: Any) -> None:
    """`request_finished`: while PostgreSQL is short of connection slots, a thread gives its
    connection back after each request, so that the slots go to the threads that have
    requests to serve (see `errors.connections_are_short`)."""
    from django.db import connections

    from kinto_django import errors

    if errors.connections_are_short():
        for connection in connections.all(initialized_only=True):
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                connection.close()


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
        connection_created.connect(set_timeouts, dispatch_uid="kinto-storage-timeouts")
        request_finished.connect(
            release_connection_when_short, dispatch_uid="kinto-release-connection-when-short"
        )
