"""The app's models where Django looks for them: the outbox of the durable listeners and the
dispatcher's lease, defined with the rest of the outbox (`outbox.models`). They belong to
this app (`kinto_notifications`): its migrations and table names."""

from kinto_django.notifications.outbox.models import DispatcherLease, OutboxEntry

__all__ = ["DispatcherLease", "OutboxEntry"]
