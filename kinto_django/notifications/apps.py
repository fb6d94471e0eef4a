from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Change events delivered to listeners: live WebSocket and Server-Sent Events clients
    (`/v1/changes`), and whatever listener a site registers."""

    name = "kinto_django.notifications"
    label = "kinto_notifications"
    verbose_name = "Kinto notifications"
    kinto_urls = "kinto_django.notifications.urls"

    def ready(self) -> None:
        from kinto_django.conf import declare_settings
        from kinto_django.core.signals import resource_changed
        from kinto_django.notifications import listeners
        from kinto_django.notifications.conf import DEFAULTS
        from kinto_django.notifications.live.broadcast import broadcast

        declare_settings(*DEFAULTS, "redis_url")

        resource_changed.connect(listeners.dispatch, dispatch_uid="kinto-notifications")
        listeners.register(listeners.Listener("live", broadcast))
        self.connect_durable_listeners()
        self.register_metrics()

    @staticmethod
    def register_metrics() -> None:
        """The outbox backlog gauge of `GET /__metrics__` (core knows nothing of outboxes)."""
        from kinto_django.core.observability.metrics import register_collector
        from kinto_django.notifications.metrics import outbox_backlog

        register_collector("outbox_backlog", outbox_backlog)

    @staticmethod
    def connect_durable_listeners() -> None:
        """Redis queues and webhooks: outbox entries written with every change, delivered by
        `manage.py kinto_dispatch_events` or a thread of the server
        (`event_dispatcher_in_server`)."""
        from django.core.signals import request_started

        from kinto_django.core.signals import resource_written
        from kinto_django.notifications import checks  # noqa: F401 - registers the system checks
        from kinto_django.notifications.outbox.dispatcher import start_in_server
        from kinto_django.notifications.outbox.entries import record_entries

        resource_written.connect(record_entries, dispatch_uid="kinto-outbox")
        request_started.connect(start_in_server, dispatch_uid="kinto-outbox-dispatcher")
