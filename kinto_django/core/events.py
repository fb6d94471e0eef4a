"""Change events: collected per request (a batch is one request), sent after commit.

Events of one request sharing (resource name, parent, action) are merged: the first
occurrence's payload is kept and impacted objects are concatenated (spec/09).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from kinto_django.core.signals import resource_changed


@dataclass
class Event:
    payload: dict[str, Any]
    impacted_objects: list[dict[str, Any]] = field(default_factory=list)


class EventCollector:
    """Accumulates the events of a request and sends them once its transaction commits."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str, str], Event] = {}

    def add(
        self,
        merge_key: tuple[str, str, str],
        payload: dict[str, Any],
        impacted: list[dict[str, Any]],
    ) -> None:
        event = self.events.get(merge_key)
        if event is None:
            self.events[merge_key] = Event(payload, list(impacted))
        else:
            event.impacted_objects.extend(impacted)

    def discard(self) -> None:
        self.events.clear()

    def send_on_commit(self) -> None:
        """Schedule delivery after the current transaction commits (now if there is none)."""
        events = list(self.events.values())
        self.events.clear()
        if not events:
            return

        def deliver() -> None:
            for event in events:
                resource_changed.send(
                    sender=EventCollector,
                    payload=event.payload,
                    impacted_objects=event.impacted_objects,
                )

        transaction.on_commit(deliver, robust=True)
