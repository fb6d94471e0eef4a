"""Writing history entries: one per changed object, in the transaction of the change.

`record_changes` receives `kinto_django.core.signals.resource_written` from every action, so an entry is
committed, or rolled back (a failed batch sub-request), with the change it describes. A write
costs a constant number of queries: the ACLs of the bucket and collection above the objects,
one timestamp allocation and one insert for however many objects (list deletions), and a
trimming check when trimming is on. When the history is off, nothing at all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings, plugin_enabled
from kinto_django.core import timestamps
from kinto_django.core.context import ActionContext
from kinto_django.core.models import ResourceModel
from kinto_django.history.models import HistoryEntry
from kinto_django.permissions import service as permissions

logger = logging.getLogger(__name__)

# The types whose changes are recorded (not accounts, nor the history itself).
TRACKED = ("bucket", "collection", "group", "record")


def history_enabled() -> bool:
    return plugin_enabled("history_enabled", "kinto.plugins.history")


def readers(acls: Mapping[str, Iterable[str]]) -> set[str]:
    """Principals an ACL mapping lets read (`write` implies `read`)."""
    return {*acls.get("read", ()), *acls.get("write", ())}


def history_scopes(resource_name: str, parent: ResourceModel | None) -> list[tuple[str, int]]:
    """The history scope a write below a bucket will update (locked first: see
    `kinto_django.core.timestamps.write_scopes`). A bucket's own writes lock it when they record."""
    if parent is None or resource_name not in TRACKED or not history_enabled():
        return []
    bucket = parent if parent.parent_field is None else [*parent.ancestors, parent][0]
    return [(HistoryEntry.resource_name, bucket.pk)]


def record_changes(
    sender: type[ResourceModel],
    ctx: ActionContext,
    action: str,
    parent: ResourceModel | None,
    objects: list[ResourceModel],
    impacted: list[dict[str, Any]],
    **kwargs: Any,
) -> None:
    """Receiver of `resource_written`: the entries of one write (spec/07)."""
    if sender.resource_name not in TRACKED or not history_enabled():
        return
    if sender.resource_name == "bucket" and action == "delete":
        return  # its history was purged with everything else in it
    if ctx.user_id is not None and ctx.user_id in kinto_settings.history_exclude_user_ids:
        return
    if parent is None:
        # Buckets: each one is the scope of its own history.
        for obj, change in zip(objects, impacted, strict=True):
            write_entries(ctx, action, sender, obj, None, [(obj, change)])
        return
    ancestors = [*parent.ancestors, parent]
    bucket = ancestors[0]
    collection = next((a for a in ancestors if a.resource_name == "collection"), None)
    write_entries(
        ctx, action, sender, bucket, collection, list(zip(objects, impacted, strict=True))
    )


def write_entries(
    ctx: ActionContext,
    action: str,
    model: type[ResourceModel],
    bucket: ResourceModel,
    collection: ResourceModel | None,
    changes: list[tuple[ResourceModel, dict[str, Any]]],
) -> None:
    """Insert the entries of objects changed together below one bucket (one statement)."""
    excluded = set(kinto_settings.history_exclude_resources)
    if bucket.uri in excluded or (collection is not None and collection.uri in excluded):
        return
    changes = [(obj, change) for obj, change in changes if obj.uri not in excluded]
    if not changes:
        return
    explicit = kinto_settings.explicit_permissions
    # Read principals above the objects, read once for all of them; the objects' own ACLs
    # are known to the action (deleted objects have none left).
    inherited: set[str] = set()
    if explicit and model.resource_name != "bucket":
        inherited |= readers(permissions.object_permissions(bucket))
        if model.resource_name == "record" and collection is not None:
            inherited |= readers(permissions.object_permissions(collection))
    date = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = []
    for obj, change in changes:
        acls: dict[str, list[str]] = {}
        if action != "delete":
            acls = (
                obj.known_acls
                if obj.known_acls is not None
                else permissions.object_permissions(obj)
            )
        entry = {
            "action": action,
            "resource_name": model.resource_name,
            "uri": obj.uri,
            **entry_ids(model, obj, collection),
            "user_id": ctx.user_id,
            "date": date,
            "target": {"data": change["new"], "permissions": acls},
        }
        principals = sorted(inherited | readers(acls)) if explicit else []
        rows.append(
            (
                str(uuid.uuid4()),
                jsonutil.dumps(entry).decode(),
                jsonutil.dumps(principals).decode(),
            )
        )
    first = timestamps.allocate(HistoryEntry.resource_name, bucket.pk, count=len(rows))
    HistoryEntry.objects.insert(bucket.pk, first, rows)
    trim_if_needed(bucket.pk, model.resource_name, ctx.user_id)


def entry_ids(
    model: type[ResourceModel], obj: ResourceModel, collection: ResourceModel | None
) -> dict[str, str]:
    """The id keys of an entry: `bucket_id` only on bucket entries, `collection_id` and
    `record_id` on record entries, `<type>_id` otherwise (spec/07)."""
    ids = {f"{model.resource_name}_id": obj.object_id}
    if model.resource_name == "record" and collection is not None:
        ids = {"collection_id": collection.object_id, **ids}
    return ids


def trim_if_needed(bucket_pk: int, resource_name: str, user_id: str | None) -> None:
    """Once a bucket holds more than `auto_trim_max_count` + `auto_trim_threshold` entries
    of a type (of one user's, with `auto_trim_user_ids`), delete the oldest down to
    `auto_trim_max_count` after the write commits: one bulk delete every `threshold` writes,
    outside the writing transaction and its locks."""
    keep = kinto_settings.history_auto_trim_max_count
    if keep <= 0:
        return
    trimmed_users = kinto_settings.history_auto_trim_user_ids
    if trimmed_users and user_id not in trimmed_users:
        return
    of_user = user_id if trimmed_users else None
    limit = keep + kinto_settings.history_auto_trim_threshold
    entries = HistoryEntry.objects.filter(bucket_id=bucket_pk).of_type(resource_name, of_user)
    # Is there an entry beyond the limit? (Stops after `limit` rows: no full count.)
    if not entries.order_by("-last_modified").values("pk")[limit : limit + 1]:
        return
    transaction.on_commit(lambda: trim(bucket_pk, resource_name, of_user, keep), robust=True)


def trim(bucket_pk: int, resource_name: str, user_id: str | None, keep: int) -> int:
    """Delete all but the `keep` newest entries of a type (and user) in a bucket."""
    with transaction.atomic():
        entries = HistoryEntry.objects.filter(bucket_id=bucket_pk).of_type(resource_name, user_id)
        newest = entries.order_by("-last_modified").values("pk")[:keep]
        deleted, _ = entries.exclude(pk__in=newest).delete()
    logger.info("Trimmed %d %s history entries of bucket #%d", deleted, resource_name, bucket_pk)
    return deleted


def capability_extras() -> dict[str, Any]:
    """What the `history` capability tells clients of the settings (as the reference)."""
    extras: dict[str, Any] = {}
    if kinto_settings.history_auto_trim_max_count > 0:
        extras["auto_trim_max_count"] = kinto_settings.history_auto_trim_max_count
    if kinto_settings.history_auto_trim_user_ids:
        extras["auto_trim_user_ids"] = kinto_settings.history_auto_trim_user_ids
    excluded = [uri_parts(uri) for uri in kinto_settings.history_exclude_resources]
    if excluded:
        extras["excluded_resources"] = [parts for parts in excluded if parts is not None]
    return extras


def uri_parts(uri: str) -> dict[str, str] | None:
    """`/buckets/b/collections/c` → `{"bucket": "b", "collection": "c"}`; None if not an
    object URI (reported by the system checks)."""
    parts = uri.split("/")
    if parts[0] != "" or len(parts) not in (3, 5, 7) or parts[1] != "buckets":
        return None
    names = {"collections": "collection", "groups": "group"}
    if len(parts) == 3:
        return {"bucket": parts[2]}
    if parts[3] not in names or (
        len(parts) == 7 and (parts[3], parts[5]) != ("collections", "records")
    ):
        return None
    found = {"bucket": parts[2], names[parts[3]]: parts[4]}
    if len(parts) == 7:
        found["record"] = parts[6]
    return found if all(found.values()) else None
