"""What a backup holds: the format's name and version, and one kind per installed resource
type, registered by its app with how it is backed up and restored."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kinto_django import errors
from kinto_django.core.models import ResourceModel, resource_types

FORMAT = "kinto-backup"
VERSION = 1
# Objects read (and ACLs fetched) per query; also the restore's unit of work.
CHUNK_SIZE = 1000
# Engine columns every resource table has; others must be declared with `register(fields=)`.
ENGINE_COLUMNS = {"row_id", "object_id", "data", "last_modified", "deleted"}
# The kind that the `--bucket` option selects, with everything below it.
BUCKET = "bucket"


@dataclass(frozen=True)
class KindOptions:
    """How one resource type is backed up and restored (see `register`)."""

    option: str | None = None
    help: str = ""
    fields: tuple[str, ...] = ()
    check: Callable[[dict[str, Any]], str | None] | None = None
    restored: Callable[[type[ResourceModel], list[ResourceModel]], None] | None = None
    # Django's JSONField writes `json.dumps` text, which SQLite keeps as it is.
    json_text: Callable[[Any], str] = json.dumps


_registered: dict[str, KindOptions] = {}


def register(
    resource_name: str,
    *,
    option: str | None = None,
    help: str = "",
    fields: tuple[str, ...] = (),
    check: Callable[[dict[str, Any]], str | None] | None = None,
    restored: Callable[[type[ResourceModel], list[ResourceModel]], None] | None = None,
    json_text: Callable[[Any], str] = json.dumps,
) -> None:
    """Declare how a resource type is backed up (call from the app's `ready()`).

    - `option`: the type is left out unless `kinto_backup --<option>` asks for it (`help`
      describes the flag), e.g. accounts, whose data holds password hashes, or history.
    - `fields`: model columns besides the engine's, carried in each line's `fields`; a type
      with undeclared columns is not backed up at all (its lines could not be restored).
    - `check(data)`: why an object's data cannot be restored (None when it can); the
      default runs the model's `validate_data`, which must then have no side effect.
    - `restored(model, objects)`: upkeep after a chunk of objects was written, instead of
      calling `on_saved()` once per live object (e.g. group memberships in a few queries).
    - `json_text(value)`: the text of JSON columns as the type's own writes store it
      (default: `json.dumps`, as Django's JSONField); SQLite keeps that text and lists
      rendered from it, so restored rows must use the same to read back byte for byte.
    """
    _registered[resource_name] = KindOptions(
        option, help, tuple(fields), check, restored, json_text
    )


def parent_model(model: type[ResourceModel]) -> type[ResourceModel] | None:
    if not model.parent_field:
        return None
    return model._meta.get_field(model.parent_field).related_model


def ancestry(model: type[ResourceModel]) -> list[type[ResourceModel]]:
    """The parent types from the root down (`[Bucket, Collection]` for records)."""
    chain: list[type[ResourceModel]] = []
    parent = parent_model(model)
    while parent is not None:
        chain.insert(0, parent)
        parent = parent_model(parent)
    return chain


@dataclass(frozen=True)
class Kind:
    """A resource type as the backup sees it."""

    model: type[ResourceModel]
    options: KindOptions = field(default_factory=KindOptions)

    @property
    def name(self) -> str:
        return self.model.resource_name

    @functools.cached_property
    def parents(self) -> list[type[ResourceModel]]:
        return ancestry(self.model)

    @functools.cached_property
    def parent_names(self) -> list[str]:
        return [parent.resource_name for parent in self.parents]

    @property
    def has_upkeep(self) -> bool:
        """Whether restored objects need `after_restore` (memberships, caches…)."""
        return (
            self.options.restored is not None or self.model.on_saved is not ResourceModel.on_saved
        )

    def check(self, data: dict[str, Any]) -> str | None:
        """Why `data` cannot be restored as an object of this kind, or None."""
        if self.options.check is not None:
            return self.options.check(data)
        try:
            self.model.validate_data(data, parent=None, old=None)
        except errors.KintoError as error:
            return error.message or "invalid data"
        return None

    def after_restore(self, objects: list[ResourceModel]) -> None:
        """Derived state of objects just written (memberships, caches), per chunk."""
        if self.options.restored is not None:
            self.options.restored(self.model, objects)
        else:
            for obj in objects:
                if not obj.deleted:
                    obj.on_saved()


def installed_kinds() -> list[Kind]:
    """Every resource type that can be backed up, parents first, then by name."""
    found = []
    for model in resource_types():
        options = _registered.get(model.resource_name, KindOptions())
        columns = {f.name for f in model._meta.concrete_fields} - ENGINE_COLUMNS
        columns -= {model.parent_field} if model.parent_field else set()
        if columns - set(options.fields):
            continue
        found.append(Kind(model, options))
    return sorted(found, key=lambda kind: (len(kind.parents), kind.name))


def optional_flags() -> dict[str, str]:
    """`--<option>` flags of opt-in kinds → their help text."""
    return {
        kind.options.option: kind.options.help or f"include {kind.name} objects"
        for kind in installed_kinds()
        if kind.options.option
    }


# Snapshot --------------------------------------------------------------------------------
