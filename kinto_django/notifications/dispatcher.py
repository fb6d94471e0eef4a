"""Former home of the outbox dispatcher, now `kinto_django.notifications.outbox.dispatcher`.

Kept only for `tests/observability/test_metrics.py`, which lies outside the change that moved
it; delete this module once that test imports the new path."""

from kinto_django.notifications.outbox.dispatcher import Dispatcher

__all__ = ["Dispatcher"]
