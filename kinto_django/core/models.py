"""The abstract resource model every stored object type builds on, and the list timestamps.

An object is `(parent, object_id)` → `data` plus its millisecond `last_modified`, unique and
strictly increasing within its parent; a deleted object stays as a tombstone (`deleted`,
empty data) so that clients syncing with `_since` learn about the deletion.
"""

from __future__ import annotations

import functools
import re
import secrets
import string
from typing import Any, ClassVar

from django.db import models
from django.db.models.fields.json import KeyTransform

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings

ID_FIRST = string.ascii_letters + string.digits
ID_REST = ID_FIRST + "_-"


class StoredJSONField(models.JSONField):
    """A JSONField that decodes with orjson (exact stdlib fallback for long integers)."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or isinstance(value, (dict, list)):
            return value
        if isinstance(expression, KeyTransform) and not isinstance(value, str):
            return value  # SQLite extracts keys as SQL values
        try:
            return jsonutil.loads_stored(value)
        except ValueError:
            if isinstance(expression, KeyTransform):
                return value  # a string extracted by SQLite, already decoded
            raise


class ResourceQuerySet(models.QuerySet):
    """Query vocabulary shared by every resource type."""

    def alive(self) -> ResourceQuerySet:
        return self.filter(deleted=False)

    def in_parent(self, parent: models.Model | None) -> ResourceQuerySet:
        field = self.model.parent_field
        return self.filter(**{field: parent}) if field else self

    def since(self, timestamp: int) -> ResourceQuerySet:
        return self.filter(last_modified__gt=timestamp)


class ResourceModel(models.Model):
    """Abstract base of buckets, collections, groups and records.

    Concrete models add their parent foreign key (named by `parent_field`), constraints on
    `(parent, object_id)` and `(parent, last_modified)`, and declare the protocol names below.
    """

    row_id = models.BigAutoField(primary_key=True)
    object_id = models.CharField(max_length=128)
    data = StoredJSONField(default=dict)
    last_modified = models.BigIntegerField()
    deleted = models.BooleanField(default=False)

    # Protocol description, set by each concrete model.
    resource_name: ClassVar[str]
    plural_name: ClassVar[str]
    parent_field: ClassVar[str | None] = None
    acl_names: ClassVar[tuple[str, ...]] = ("read", "write")
    # Accepted ids (spec/01) and the setting that bounds their length.
    id_pattern: ClassVar[str] = r"[a-zA-Z0-9][a-zA-Z0-9_-]*"
    id_length_setting: ClassVar[str] = "max_id_length"
    # Lists are rendered to JSON by the database, unless a type transforms what it shows.
    renders_in_sql: ClassVar[bool] = True
    # Whether a deletion leaves a tombstone (history entries are removed outright).
    keeps_tombstones: ClassVar[bool] = True
    # Whether writes look their parent up before authorization, so that a missing parent is a
    # 404 even for anonymous callers (spec/01: records in a missing collection).
    parent_before_authorization: ClassVar[bool] = False
    # Whether `GET /permissions` lists every object of the type when a
    # `<type>_<perm>_principals` setting grants a permission on all of them (as the reference
    # does for buckets, collections and groups, not for records).
    listed_for_settings: ClassVar[bool] = False

    objects = ResourceQuerySet.as_manager()

    # The object's own ACLs when this request already read or wrote them (so that neither the
    # action nor the response reads them again); None when unknown.
    known_acls: dict[str, list[str]] | None = None

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.uri

    @property
    def parent(self) -> ResourceModel | None:
        return getattr(self, self.parent_field) if self.parent_field else None

    @property
    def parent_key(self) -> int:
        """Key of the (parent, type) scope whose list timestamp this object belongs to."""
        return getattr(self, f"{self.parent_field}_id") if self.parent_field else 0

    @property
    def uri(self) -> str:
        """The object's path without the version prefix, e.g. `/buckets/b/collections/c`."""
        prefix = self.parent.uri if self.parent_field else ""
        return f"{prefix}/{self.plural_name}/{self.object_id}"

    @classmethod
    def list_uri(cls, parent: ResourceModel | None) -> str:
        return f"{parent.uri if parent is not None else ''}/{cls.plural_name}"

    @property
    def ancestors(self) -> list[ResourceModel]:
        """Parents from the root down, e.g. [bucket, collection] for a record."""
        chain: list[ResourceModel] = []
        node = self.parent
        while node is not None:
            chain.insert(0, node)
            node = node.parent
        return chain

    @classmethod
    def generate_id(cls) -> str:
        """The id of an object posted without one: 8 characters (spec/01)."""
        return secrets.choice(ID_FIRST) + "".join(secrets.choice(ID_REST) for _ in range(7))

    @classmethod
    def valid_id(cls, object_id: Any) -> bool:
        """The type's id pattern (spec/01) and our length limit (a setting per type)."""
        if not isinstance(object_id, str):
            return False
        limit = kinto_settings.get(cls.id_length_setting)
        return len(object_id) <= limit and bool(_id_regex(cls.id_pattern).fullmatch(object_id))

    @classmethod
    def cache_expires_seconds(cls, ancestors: dict[str, ResourceModel]) -> int | None:
        """`max-age` of anonymous reads of this type (None: not cached), given the objects
        above the addressed one: the `<type>_cache_expires_seconds` setting (spec/00)."""
        return kinto_settings.get(f"{cls.resource_name}_cache_expires_seconds", None)

    # Hooks for the concrete types; the actions call them inside the writing transaction.

    @classmethod
    def validate_data(
        cls, data: dict[str, Any], *, parent: ResourceModel | None, old: ResourceModel | None
    ) -> dict[str, Any]:
        """Check type-specific fields of new data (raise a 400 KintoError); returns it."""
        return data

    @classmethod
    def validate_object(
        cls,
        object_id: str,
        data: dict[str, Any],
        *,
        parent: ResourceModel | None,
        old: ResourceModel | None,
    ) -> dict[str, Any]:
        """Check the whole new object, id included, after `validate_data` (e.g. against JSON
        schemas); returns the data to store. Only for the caller's own writes: the server's
        consistency upkeep (`by_the_server`) is not held to rules clients set."""
        return data

    def on_saved(self) -> None:
        """Called after this object was created or updated (e.g. group memberships)."""

    @classmethod
    def on_deleted(cls, ctx: Any, objs: list[ResourceModel]) -> None:
        """Called when a request deletes objects of this type, before their ACLs and
        children are purged (not for cascades or the flush)."""

    @classmethod
    def on_purged(cls, queryset: models.QuerySet) -> None:
        """Called before objects of this type are deleted or purged by a cascade."""

    def owner_principal(self, writer: str) -> str:
        """Who is added to `write` when `writer` writes this object (spec/04: the writer)."""
        return writer

    def public_data(self) -> dict[str, Any]:
        """What clients and event listeners see of the object (default: `as_data()`)."""
        return self.as_data()

    def as_data(self) -> dict[str, Any]:
        """The stored object: data plus `id` and `last_modified` (a tombstone when deleted)."""
        if self.deleted:
            return {"id": self.object_id, "last_modified": self.last_modified, "deleted": True}
        return {**self.data, "id": self.object_id, "last_modified": self.last_modified}


@functools.lru_cache
def _id_regex(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def resource_types() -> list[type[ResourceModel]]:
    """Every resource type of the installed apps (their concrete models)."""
    from django.apps import apps

    return [model for model in apps.get_models() if issubclass(model, ResourceModel)]


class ListTimestamp(models.Model):
    """Highest timestamp ever assigned in a (parent, type) scope: the list's ETag.

    Writers update this row inside their transaction, which serialises them per scope and
    guarantees strictly increasing timestamps in commit order (see core.timestamps).
    """

    resource_name = models.CharField(max_length=32)
    parent_key = models.BigIntegerField()
    last_modified = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_name", "parent_key"], name="kinto_list_timestamp_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_name}@{self.parent_key}: {self.last_modified}"
