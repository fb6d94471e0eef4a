"""Listeners of the engine's change events, chosen by code or settings.

`kinto_django.core.signals.resource_changed` is sent once per merged event after the writing transaction
commits. The app connects one receiver, `dispatch`, which hands the event to every registered
listener whose `actions` and `resources` match (the reference's listener settings shape). The
live broadcast registers itself here; durable listeners (queues, webhooks) can do the same.
A failing listener is logged and skipped: the change is committed and the response is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kinto_django.core.observability import metrics

logger = logging.getLogger(__name__)

DEFAULT_ACTIONS = ("create", "update", "delete")


@dataclass(frozen=True)
class Listener:
    """A named receiver of change events, limited to some actions and resource types
    (empty `resources`: every type)."""

    name: str
    notify: Callable[[dict[str, Any], list[dict[str, Any]]], None]
    actions: tuple[str, ...] = DEFAULT_ACTIONS
    resources: tuple[str, ...] = field(default=())

    def wants(self, payload: dict[str, Any]) -> bool:
        return payload.get("action") in self.actions and (
            not self.resources or payload.get("resource_name") in self.resources
        )


LISTENERS: dict[str, Listener] = {}


def register(listener: Listener) -> None:
    """Add (or replace, by name) a listener."""
    LISTENERS[listener.name] = listener


def unregister(name: str) -> None:
    """Remove a listener by name (no error if absent)."""
    LISTENERS.pop(name, None)


def registered() -> Iterable[Listener]:
    """The listeners, in registration order."""
    return list(LISTENERS.values())


def dispatch(
    sender: Any, payload: dict[str, Any], impacted_objects: list[dict[str, Any]], **kwargs: Any
) -> None:
    """The `resource_changed` receiver: every interested listener, in registration order."""
    for listener in registered():
        if not listener.wants(payload):
            continue
        try:
            listener.notify(payload, impacted_objects)
        except Exception:  # noqa: BLE001 - committed already; one listener must not stop others
            logger.exception("Listener %r failed on a %s event", listener.name, payload["action"])
            metrics.EVENT_DELIVERY_FAILURES.labels(listener.name).inc()
        else:
            metrics.EVENTS_DELIVERED.labels(listener.name).inc()
