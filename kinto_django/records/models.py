"""Records: free-form JSON documents in a collection."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from kinto_django.buckets.models import Collection
from kinto_django.conf import kinto_settings
from kinto_django.core import schemas
from kinto_django.core.models import ResourceModel

# Left out of the validated data: set by the server (`schema` is the version of the
# collection schema the record was validated against).
SCHEMA_IGNORED_FIELDS = ("last_modified", "schema")


class Record(ResourceModel):
    """A JSON document; the unit that clients synchronise."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="records")

    resource_name = "record"
    plural_name = "records"
    parent_field = "collection"
    acl_names = ("read", "write")
    id_length_setting = "max_record_id_length"
    # A write in a missing collection is a 404 for anybody, before permissions (spec/01).
    parent_before_authorization = True

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "object_id"], name="kinto_record_id"),
            models.UniqueConstraint(
                fields=["collection", "last_modified"], name="kinto_record_timestamp"
            ),
        ]
        permissions = [("read", "Read the record"), ("write", "Write the record")]

    @classmethod
    def generate_id(cls) -> str:
        """Records posted without an id get a UUID4 (spec/01)."""
        return str(uuid.uuid4())

    @classmethod
    def cache_expires_seconds(cls, ancestors: dict[str, Any]) -> int | None:
        """The most specific `record_cache_expires_seconds` setting (per collection, per bucket,
        global), and the collection's `cache_expires` when longer (spec/00)."""
        bucket, collection = ancestors.get("bucket"), ancestors.get("collection")
        if bucket is None or collection is None:
            return None
        seconds = None
        for key in (
            f"{bucket.object_id}.{collection.object_id}.record_cache_expires_seconds",
            f"{bucket.object_id}_{collection.object_id}_record_cache_expires_seconds",
            f"{bucket.object_id}.record_cache_expires_seconds",
            f"{bucket.object_id}_record_cache_expires_seconds",
            "record_cache_expires_seconds",
        ):
            value = kinto_settings.get(key.lower(), None)
            if value is not None:
                seconds = value
                break
        collection_value = collection.data.get("cache_expires")
        if isinstance(collection_value, int) and not isinstance(collection_value, bool):
            seconds = collection_value if seconds is None else max(seconds, collection_value)
        return seconds

    @classmethod
    def validate_object(
        cls, object_id: str, data: dict[str, Any], *, parent: Any, old: Any
    ) -> dict[str, Any]:
        """With schema validation on: the collection's `schema`, then the bucket's
        `record:schema` (spec/08). A collection with a `schema` (even `{}`) stamps the record
        with its `last_modified`, so that clients can find records checked against an older
        version (`?lt_schema=`)."""
        if not schemas.enabled():
            return data
        collection = parent
        if "schema" in collection.data:
            schemas.validate(
                data,
                collection.data["schema"],
                object_id=object_id,
                ignored=SCHEMA_IGNORED_FIELDS,
            )
            data = {**data, "schema": collection.last_modified}
        bucket_schema = collection.bucket.data.get("record:schema")
        if bucket_schema is not None:
            schemas.validate(
                data, bucket_schema, object_id=object_id, ignored=SCHEMA_IGNORED_FIELDS
            )
        return data
