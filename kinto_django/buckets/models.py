"""Buckets, collections and groups."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Value
from django.db.models.functions import Concat

from kinto_django import errors
from kinto_django.core import schemas
from kinto_django.core.models import ResourceModel
from kinto_django.core.validation import check_json_schema, check_principals_list
from kinto_django.permissions import service as permissions
from kinto_django.permissions.identity import MAX_PRINCIPAL_LENGTH

BUCKET_SCHEMA_FIELDS = ("collection:schema", "group:schema", "record:schema")


def validate_against_bucket_schema(
    model: type[ResourceModel], object_id: str, data: dict[str, Any], bucket: Bucket
) -> None:
    """Collections and groups, with schema validation on: the bucket's `<type>:schema`
    (spec/08; a group's `members` are part of the validated data)."""
    if not schemas.enabled():
        return
    schema = bucket.data.get(f"{model.resource_name}:schema")
    if schema is not None:
        schemas.validate(data, schema, object_id=object_id, ignored=("last_modified",))


class Bucket(ResourceModel):
    """The top-level container: its ACLs reach every collection, group and record inside."""

    resource_name = "bucket"
    plural_name = "buckets"
    acl_names = ("read", "write", "collection:create", "group:create")
    listed_for_settings = True

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["object_id"], name="kinto_bucket_id"),
            models.UniqueConstraint(fields=["last_modified"], name="kinto_bucket_timestamp"),
        ]
        permissions = [
            ("read", "Read the bucket"),
            ("write", "Write the bucket and everything in it"),
            ("collection:create", "Create collections in the bucket"),
            ("group:create", "Create groups in the bucket"),
        ]

    @classmethod
    def validate_data(cls, data: dict[str, Any], *, parent: Any, old: Any) -> dict[str, Any]:
        for name in BUCKET_SCHEMA_FIELDS:
            if name in data:
                check_json_schema(data[name], f"data.{name}")
        return data


class Collection(ResourceModel):
    """A list of records, with an optional JSON schema and cache lifetime."""

    bucket = models.ForeignKey(Bucket, on_delete=models.CASCADE, related_name="collections")

    resource_name = "collection"
    plural_name = "collections"
    parent_field = "bucket"
    acl_names = ("read", "write", "record:create")
    listed_for_settings = True

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "object_id"], name="kinto_collection_id"),
            models.UniqueConstraint(
                fields=["bucket", "last_modified"], name="kinto_collection_timestamp"
            ),
        ]
        permissions = [
            ("read", "Read the collection and its records"),
            ("write", "Write the collection and its records"),
            ("record:create", "Create records in the collection"),
        ]

    @classmethod
    def validate_data(cls, data: dict[str, Any], *, parent: Any, old: Any) -> dict[str, Any]:
        if "schema" in data:
            check_json_schema(data["schema"], "data.schema")
        if "cache_expires" in data:
            value = data["cache_expires"]
            if value is None:
                # `null` means "not set", as if the field were absent.
                return {k: v for k, v in data.items() if k != "cache_expires"}
            if not isinstance(value, int) or isinstance(value, bool):
                raise errors.invalid("body", "data.cache_expires", f'"{value}" is not a number')
        return data

    @classmethod
    def validate_object(
        cls, object_id: str, data: dict[str, Any], *, parent: Any, old: Any
    ) -> dict[str, Any]:
        validate_against_bucket_schema(cls, object_id, data, parent)
        return data


class Group(ResourceModel):
    """A named set of principals; its URI is a principal that ACLs can grant to."""

    bucket = models.ForeignKey(Bucket, on_delete=models.CASCADE, related_name="groups")

    resource_name = "group"
    plural_name = "groups"
    parent_field = "bucket"
    acl_names = ("read", "write")
    listed_for_settings = True

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "object_id"], name="kinto_group_id"),
            models.UniqueConstraint(
                fields=["bucket", "last_modified"], name="kinto_group_timestamp"
            ),
        ]
        permissions = [("read", "Read the group"), ("write", "Write the group")]

    @classmethod
    def validate_data(cls, data: dict[str, Any], *, parent: Any, old: Any) -> dict[str, Any]:
        members = check_principals_list(
            data.get("members", []), "data.members", MAX_PRINCIPAL_LENGTH
        )
        for index, member in enumerate(members):
            if member == "system.Everyone" or member.startswith("/buckets/"):
                raise errors.invalid(
                    "body", f"data.members.{index}", f"'{member}' is not a valid user ID."
                )
        return {**data, "members": members}

    @classmethod
    def validate_object(
        cls, object_id: str, data: dict[str, Any], *, parent: Any, old: Any
    ) -> dict[str, Any]:
        validate_against_bucket_schema(cls, object_id, data, parent)
        return data

    def on_saved(self) -> None:
        permissions.set_group_members(self.uri, self.data.get("members", []))

    @classmethod
    def on_purged(cls, queryset: models.QuerySet) -> None:
        # The group principals, built in SQL: a bucket may hold any number of groups.
        uris = queryset.annotate(
            uri=Concat(
                Value("/buckets/"),
                "bucket__object_id",
                Value("/groups/"),
                "object_id",
                output_field=models.CharField(),
            )
        ).values("uri")
        permissions.forget_groups(uris=uris)


def drop_removed_members(sender: Any, ctx: Any, principals: list[str], **kwargs: Any) -> None:
    """Take principals that stopped existing (deleted accounts) out of every group's
    `members`: each group is updated like any write (new timestamp, event), so that syncing
    clients see it and a later sign-up under the same name joins nothing on the next edit."""
    from kinto_django.core import actions, timestamps

    gone = set(principals)
    for uri in permissions.groups_having_members(principals):
        _, _, bucket_id, _, group_id = uri.split("/", 4)
        bucket = Bucket.objects.alive().filter(object_id=bucket_id).first()
        if bucket is None:
            continue
        timestamps.lock_write("group", bucket)
        group = (
            Group.objects.alive()
            .filter(bucket=bucket, object_id=group_id)
            .select_for_update()
            .first()
        )
        if group is None:
            continue
        group.bucket = bucket
        members = [m for m in group.data.get("members", []) if m not in gone]
        actions.update_object(ctx, group, {**group.data, "members": members}, by_the_server=True)
