"""Who performs an action and where its events go: what every action function receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.events import EventCollector
from permissions.service import Identity


@dataclass
class ActionContext:
    """The acting identity and the request-wide event collector (shared by a batch)."""

    identity: Identity
    events: EventCollector = field(default_factory=EventCollector)

    @property
    def user_id(self) -> str | None:
        return self.identity.user_id
