"""Who performs an action and where its events go: what every action function receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kinto_django import errors
from kinto_django.core.events import EventCollector
from kinto_django.permissions.identity import Identity


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
    # Sub-requests the batch may still run, redirects followed included (None: no limit).
    budget: int | None = None

    def spend(self) -> None:
        """Count one more sub-request run; a batch over `batch_max_subrequests` is refused
        (400) and rolled back."""
        if self.budget is None:
            return
        if self.budget <= 0:
            raise errors.invalid(
                "body", "requests", "This batch runs more sub-requests than allowed."
            )
        self.budget -= 1

    def forget(self) -> None:
        self.parents.clear()
        self.locked_scopes.clear()


@dataclass
class RequestState:
    """What the engine keeps about one HTTP request, in one place (`request.kinto`).

    The sub-requests a request runs in-process (a batch's, the real request behind
    `/buckets/default`) get a state sharing its identities, events and batch.
    """

    # The caller per `Authorization` value: computed once per request and batch.
    identities: dict[str, Identity] = field(default_factory=dict)
    # Change events, sent once the request's transaction commits (a batch's are merged).
    events: EventCollector = field(default_factory=EventCollector)
    # What the sub-requests of a batch share (set on the batch and on its sub-requests).
    batch: BatchState | None = None
    # Whether this request runs as a sub-request of a batch (its batch sends the events).
    in_batch: bool = False
    # Where the site mounts the API (`/v1`), once looked up.
    api_root: str | None = None
    # The raw body, once read (within `max_request_body_bytes`).
    body: bytes | None = None
    # Whether the parents a batch looked up are still valid after this sub-request.
    parents_unchanged: bool = True
    # The views that served the request and its sub-requests (released with the request).
    views: list[Any] = field(default_factory=list)

    def release(self) -> None:
        """The response is built: drop what the request read and wrote (see
        `kinto_django.core.api.middleware.release_request`)."""
        self.body = None
        self.events.discard()
        self.batch = None
        self.views = []

    def for_subrequest(self, **changes: object) -> RequestState:
        """The state of a request run on behalf of this one (its body is its own)."""
        shared: dict[str, Any] = {
            "identities": self.identities,
            "events": self.events,
            "batch": self.batch,
            "in_batch": self.in_batch,
            "api_root": self.api_root,
            "views": self.views,
        }
        return RequestState(**{**shared, **changes})


def request_state(request: Any) -> RequestState:
    """The engine's state of a request (a Django `HttpRequest` or a DRF `Request`)."""
    request = getattr(request, "_request", request)
    state = getattr(request, "kinto", None)
    if state is None:
        state = request.kinto = RequestState()
    return state
