"""`GET /buckets/{bid}/snapshot/collections/{cid}@{ts}`: the records of a collection as they
were at a timestamp (spec/07), rebuilt from the live records and the history.

Records not changed since `ts` are taken as they are; for those changed since, the newest
history entry written at or before `ts` gives their version then (none: created after `ts`,
or their history was trimmed or excluded; a tombstone: deleted then). Only the entries that
`/history` would show the caller count (a reader of the collection who cannot read the
bucket sees only versions shared with them), and only those since the collection was last
created. A few queries whatever the size of the collection.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models.fields.json import KT
from django.http import HttpResponse

from kinto_django import errors, jsonutil
from kinto_django.buckets.models import Bucket, Collection
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.api.responses import raw_json_response
from kinto_django.core.chain import load_parents
from kinto_django.core.query.sql import object_json_expression
from kinto_django.history.models import HistoryEntry
from kinto_django.history.viewsets import holds_bucket_permission
from kinto_django.permissions import service as permissions
from kinto_django.records.models import Record

TIMESTAMP = re.compile(r"[0-9]{1,400}")
MAX_TIMESTAMP = 2**63 - 1


class SnapshotView(ProtocolView):
    """GET/HEAD only; readers and writers of the bucket or of the collection."""

    allowed_methods = ("GET", "HEAD")

    def get(self, request: Any, bucket_id: str, collection_id: str, timestamp: str):
        if not TIMESTAMP.fullmatch(timestamp):
            raise errors.invalid("path", "timestamp", f"Invalid timestamp {timestamp!r}")
        # Later than any stored timestamp: the present state.
        at = min(int(timestamp), MAX_TIMESTAMP)
        if not Bucket.valid_id(bucket_id):
            raise errors.parent_not_found(bucket_id, "bucket")
        if not Collection.valid_id(collection_id):
            raise errors.parent_not_found(collection_id, "collection")
        parents, _ = load_parents(Record, {"bucket_id": bucket_id, "collection_id": collection_id})
        # Record read without a record: bucket or collection `read`/`write` (or the settings
        # that let read every record).
        if not permissions.has_permission(self.identity, "record", "read", parents.found):
            raise self.deny()
        collection = parents.found.get("collection")
        bucket = parents.found.get("bucket")
        # The versions of changed records come from entries that `/history` would show the
        # caller: every entry to readers of the bucket, else those shared with them.
        shared_with = (
            None
            if holds_bucket_permission(self.identity, bucket, "read")
            else list(self.identity.principals)
        )
        versions = [] if collection is None else records_at(collection, at, shared_with)
        body = b'{"data":[' + b",".join(text for _, text in versions) + b"]}"
        return raw_json_response(body)

    def head(self, request: Any, **kwargs: Any) -> HttpResponse:
        response = self.get(request, **kwargs)
        response["Content-Length"] = str(len(response.content))
        response.content = b""
        return response


def records_at(
    collection: Collection, at: int, shared_with: list[str] | None = None
) -> list[tuple[int, bytes]]:
    """`(last_modified, JSON)` of the collection's records at `at`, newest first, from the
    entries written since the collection was last created (never a version of a deleted
    collection of the same id), and shared with one of `shared_with` when given."""
    unchanged = (
        Record.objects.alive()
        .filter(collection=collection, last_modified__lte=at)
        .annotate(body=object_json_expression())
        .values_list("last_modified", "body")
    )
    versions = [(last_modified, body.encode()) for last_modified, body in unchanged]
    changed_since = Record.objects.filter(collection=collection, last_modified__gt=at)
    entries = HistoryEntry.objects.alive().filter(
        bucket_id=collection.bucket_id,
        data__resource_name="record",
        data__collection_id=collection.object_id,
        data__target__data__last_modified__lte=at,
        last_modified__gt=last_incarnation(collection),
    )
    if shared_with is not None:
        entries = entries.readable_by(shared_with)
    entries = (
        entries.alias(record_id=KT("data__record_id"))
        .filter(record_id__in=changed_since.values("object_id"))
        .order_by("-last_modified")
        .values_list("data__record_id", "data__target__data")
    )
    seen: set[str] = set()
    for record_id, version in entries:
        if record_id in seen:
            continue
        seen.add(record_id)
        if not version.get("deleted"):
            versions.append((version["last_modified"], jsonutil.dumps(version)))
    versions.sort(key=lambda item: item[0], reverse=True)
    return versions


def last_incarnation(collection: Collection) -> int:
    """The history timestamp of the collection's last creation or deletion (0 when history
    holds none): entries before it are about a former collection of the same id."""
    boundary = (
        HistoryEntry.objects.alive()
        .filter(
            bucket_id=collection.bucket_id,
            data__resource_name="collection",
            data__collection_id=collection.object_id,
            data__action__in=("create", "delete"),
        )
        .order_by("-last_modified")
        .values_list("last_modified", flat=True)
        .first()
    )
    return boundary or 0
