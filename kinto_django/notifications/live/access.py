"""Who may read the objects of an event: decided once per event and server process, for
every subscriber at once.

The ACLs of the objects and of their parents are read in one query (`permissions.service.
grants_of_many`) when the event is delivered, not when it was written: a client whose read
access was revoked in between receives nothing. Each subscriber is then decided in memory,
with its principals (`granted_by`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from kinto_django.core import chain
from kinto_django.core.models import ResourceModel, resource_types
from kinto_django.permissions import service as permissions


@functools.cache
def models_by_name() -> dict[str, type[ResourceModel]]:
    """The stored resource types by resource name, as the engine knows them."""
    return {model.resource_name: model for model in resource_types()}


@dataclass(frozen=True)
class Readers:
    """The principals that may read each impacted object of one event (same order), and the
    key of the list the objects belong to (None when their parent is gone)."""

    resource_name: str
    granted: list[frozenset[str]]
    parent_key: int | None = None

    def allows(self, identity: permissions.Identity, index: int) -> bool:
        return permissions.granted_by(identity, self.resource_name, "read", self.granted[index])


def readers_of(payload: dict[str, Any], impacted: list[dict[str, Any]]) -> Readers:
    """Three queries whatever the number of objects and subscribers: the parents, the live
    objects' keys and every ACL of both."""
    resource_name = payload["resource_name"]
    model = models_by_name().get(resource_name)
    if model is None:
        return Readers(resource_name, [frozenset()] * len(impacted))
    ancestors = chain.parent_models(model)
    parent = None
    ancestry: dict[str, Any] = {}
    if ancestors:
        ids = [payload.get(f"{level.resource_name}_id") for level in ancestors]
        loaded = chain.load(ancestors, ids) if all(ids) else None
        if loaded is None:
            # The parent is gone (deleted since): its ACLs went with it; only settings grant.
            return Readers(resource_name, [frozenset()] * len(impacted), None)
        found, _ = loaded
        ancestry = {obj.resource_name: obj for obj in found}
        parent = found[-1]
    alive = [item["new"]["id"] for item in impacted if not item["new"].get("deleted")]
    keys: dict[str, int] = {}
    if alive:
        keys = dict(
            model.objects.in_parent(parent)
            .filter(object_id__in=alive, deleted=False)
            .values_list("object_id", "pk")
        )
    objects = []
    for item in impacted:
        pk = keys.get(item["new"]["id"])
        objects.append(model(pk=pk) if pk is not None else None)
    return Readers(
        resource_name,
        permissions.grants_of_many(resource_name, "read", ancestry, objects),
        parent.pk if parent is not None else 0,
    )


# Changes waited for at most, per gap (see `kinto_django.notifications.live.hub.ListOrder`).
MAX_MISSING = 1000


def committed_between(resource_name: str, parent_key: int, low: int, high: int) -> set[int]:
    """Timestamps of the list's objects (tombstones included) strictly between `low` and
    `high`: changes committed there whose event has not arrived yet, if any (one query)."""
    model = models_by_name()[resource_name]
    rows = model.objects.filter(last_modified__gt=low, last_modified__lt=high)
    if model.parent_field:
        rows = rows.filter(**{f"{model.parent_field}_id": parent_key})
    return set(rows.values_list("last_modified", flat=True)[:MAX_MISSING])


def changes_at(resource_name: str, parent_key: int, timestamps: list[int]) -> list[dict[str, Any]]:
    """The list's objects (tombstones included) whose timestamp is one of these, oldest
    first: changes whose event did not come in time, read back (one query)."""
    model = models_by_name()[resource_name]
    rows = model.objects.filter(last_modified__in=timestamps)
    if model.parent_field:
        rows = rows.filter(**{f"{model.parent_field}_id": parent_key})
    return [row.public_data() for row in rows.order_by("last_modified")]
