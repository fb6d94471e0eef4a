from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Change events delivered to listeners: live WebSocket and Server-Sent Events clients
    (`/v1/changes`), and whatever listener a site registers."""

    name = "notifications"
    label = "kinto_notifications"
    verbose_name = "Kinto notifications"
    kinto_urls = "notifications.urls"

    def ready(self) -> None:
        from core.signals import resource_changed
        from notifications import listeners
        from notifications.broadcast import broadcast

        resource_changed.connect(listeners.dispatch, dispatch_uid="kinto-notifications")
        listeners.register(listeners.Listener("live", broadcast))
