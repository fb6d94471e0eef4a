"""Who performs an action and where its events go: what every action function receives."""

from __future__ import annotations

from dataclasses import dataclass, field

from kinto_django.core.events import EventCollector
from kinto_django.permissions.service import Identity


@dataclass
class ActionContext:
    """The acting identity and the request-wide event collector (shared by a batch)."""

    identity: Identity
    events: EventCollector = field(default_factory=EventCollector)

    @property
    def user_id(self) -> str | None:
        return self.identity.user_id


@dataclass
class BatchState:
    """What the sub-requests of one batch attempt share, valid only while nothing they
    rely on changes: the parents each list path resolved to, and the list scopes this
    transaction already holds locked (spec/06: parents are looked up once per batch).

    `forget()` runs after a sub-request that failed (its savepoint rolled back, releasing
    its locks and undoing what it created) or that wrote an object that has children.
    """

    parents: dict[tuple, object] = field(default_factory=dict)
    locked_scopes: set[tuple[str, int]] = field(default_factory=set)

    def forget(self) -> None:
        self.parents.clear()
        self.locked_scopes.clear()
