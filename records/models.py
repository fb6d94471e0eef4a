"""Records: free-form JSON documents in a collection."""

from __future__ import annotations

from django.db import models

from buckets.models import Collection
from core.models import ResourceModel


class Record(ResourceModel):
    """A JSON document; the unit that clients synchronise."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="records")

    resource_name = "record"
    plural_name = "records"
    parent_field = "collection"
    acl_names = ("read", "write")
    id_length_setting = "max_record_id_length"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "object_id"], name="kinto_record_id"),
            models.UniqueConstraint(
                fields=["collection", "last_modified"], name="kinto_record_timestamp"
            ),
        ]
        permissions = [("read", "Read the record"), ("write", "Write the record")]
