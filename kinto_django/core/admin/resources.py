"""The Django admin of every resource type, written once: apps register their models with a
`ResourceAdmin` (or `ReadOnlyResourceAdmin`) subclass of a few lines.

Lists are searchable by id and by text inside the JSON data, filtered by parent and by
tombstone. Every change goes through `kinto_django.core.actions` like an API write (scope
locks, validation, timestamps, ACLs, events), as the principal `django:<username>` (the user
id the `django` authentication policy gives the same staff user): with `explicit_permissions`
on, that principal is added to the `write` ACL of what the operator writes, as for any
writer (see `writes`)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, ClassVar

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest
from django.utils.html import format_html

from kinto_django.core import actions, chain
from kinto_django.core.admin.filters import TombstoneFilter, ancestor_filters, descendants
from kinto_django.core.admin.forms import ResourceForm, pretty_json
from kinto_django.core.admin.search import search_json
from kinto_django.core.admin.writes import checked_acls, locked_row, run_write
from kinto_django.core.context import ActionContext
from kinto_django.core.models import ResourceModel
from kinto_django.permissions import service as permissions

SERVER_FIELDS = ("id", "last_modified")


def display_time(milliseconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


class ResourceListing:
    """Lists of resource objects: id, parent, timestamp (and its date), tombstones; search by
    id or by text inside the data; filters by parent and state."""

    search_fields = ("object_id",)
    search_help_text = "An id, or any text inside the JSON data."
    ordering = ("-last_modified",)
    list_per_page = 50
    # Counting every row of a large table for each page is not worth it.
    show_full_result_count = False
    # Top-level data keys never shown nor searched (account password hashes).
    hidden_keys: ClassVar[tuple[str, ...]] = ()
    model: type[ResourceModel]

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        parent = ("parent_uri",) if self.model.parent_field else ()
        return ("object_id", *parent, "last_modified", "modified", "deleted")

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [TombstoneFilter, *ancestor_filters(self.model)]

    def get_list_select_related(self, request: HttpRequest) -> tuple[str, ...]:
        lookups = chain.ancestor_lookups(self.model)
        return (lookups[-1][1],) if lookups else ()

    def get_search_results(
        self, request: HttpRequest, queryset: models.QuerySet, search_term: str
    ) -> tuple[models.QuerySet, bool]:
        return search_json(queryset, search_term, "data", "object_id", self.hidden_keys), False

    def visible_data(self, obj: ResourceModel) -> dict[str, Any]:
        return {k: v for k, v in obj.data.items() if k not in self.hidden_keys}

    @admin.display(description="parent")
    def parent_uri(self, obj: ResourceModel) -> str:
        return obj.parent.uri

    @admin.display(description="modified (UTC)", ordering="last_modified")
    def modified(self, obj: ResourceModel) -> str:
        return display_time(obj.last_modified)

    @admin.display(description="data")
    def data_display(self, obj: ResourceModel) -> str:
        return format_html("<pre>{}</pre>", pretty_json(self.visible_data(obj)))

    @admin.display(description="permissions")
    def permissions_display(self, obj: ResourceModel) -> str:
        if obj.deleted:
            return "(deleted objects keep no permissions)"
        return format_html("<pre>{}</pre>", pretty_json(permissions.object_permissions(obj)))

    def view_fields(self) -> list[str]:
        parent = ["parent_uri"] if self.model.parent_field else []
        return ["object_id", *parent, "last_modified", "modified", "deleted", "data_display"]


class ResourceAdmin(ResourceListing, admin.ModelAdmin):
    """Buckets, collections, groups, records, accounts: written only through the actions.

    Tombstones are shown read-only. ACLs are edited in the `permissions` field, as JSON, and
    saved by the same action as the data.
    """

    form = ResourceForm

    def get_fields(self, request: HttpRequest, obj: ResourceModel | None = None) -> list[str]:
        if obj is None:
            parent = [self.model.parent_field] if self.model.parent_field else []
            return ["object_id", *parent, *self.editable_fields(), "permissions"]
        if not self.has_change_permission(request, obj):
            return [*self.view_fields(), "permissions_display"]
        parent = ["parent_uri"] if self.model.parent_field else []
        return [
            "object_id",
            *parent,
            "last_modified",
            "modified",
            "seen_last_modified",
            *self.editable_fields(),
            "permissions",
        ]

    def editable_fields(self) -> list[str]:
        return ["data"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (*self.view_fields(), "permissions_display")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.model_admin, form.request = self, request
        return form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not (obj is not None and obj.deleted) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not (obj is not None and obj.deleted) and super().has_delete_permission(
            request, obj
        )

    # --- writes ---------------------------------------------------------------------------

    def data_from_form(self, obj: ResourceModel, form: ResourceForm) -> dict[str, Any]:
        """The data to store from a valid form (accounts add the password)."""
        data = form.cleaned_data["data"]
        reserved = [key for key in (*SERVER_FIELDS, *self.hidden_keys) if key in data]
        if reserved:
            raise ValidationError({"data": f"{', '.join(reserved)}: set by the server, not here"})
        return data

    def write_form(
        self, request: HttpRequest, obj: ResourceModel, form: ResourceForm
    ) -> ResourceModel:
        """Create or update the object as a PUT with `data` and `permissions` would."""
        model = self.model
        acls = checked_acls(model, form.cleaned_data["permissions"])
        data = self.data_from_form(obj, form)
        if obj.pk is not None:
            seen = form.cleaned_data.get("seen_last_modified")

            def update(ctx: ActionContext) -> ResourceModel:
                row = locked_row(model, obj.pk)
                if row is None:
                    raise ValidationError("This object was deleted meanwhile.")
                if seen is not None and seen != row.last_modified:
                    raise ValidationError(
                        "This object was modified meanwhile: reload it and edit again."
                    )
                _, updated = actions.update_object(ctx, row, data, acls, model.acl_names)
                return updated

            return run_write(request, model, obj.parent, update)

        parent = form.cleaned_data.get(model.parent_field) if model.parent_field else None
        object_id = form.cleaned_data.get("object_id") or model.generate_id()
        if not model.valid_id(object_id):
            raise ValidationError({"object_id": "Invalid object id"})

        def create(ctx: ActionContext) -> ResourceModel:
            row = model.objects.in_parent(parent).filter(object_id=object_id)
            row = row.select_for_update().first()
            if row is not None and not row.deleted:
                raise ValidationError({"object_id": f"{object_id} already exists here"})
            return actions.create_object(ctx, model, parent, object_id, data, acls, tombstone=row)

        return run_write(request, model, parent, create)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing left to do: the form wrote through the actions when it was validated."""

    def delete_model(self, request: HttpRequest, obj: ResourceModel) -> None:
        def delete(ctx: ActionContext) -> None:
            row = locked_row(self.model, obj.pk)
            if row is not None:
                actions.delete_object(ctx, row)

        run_write(request, self.model, obj.parent, delete)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """Deleted per parent, as a DELETE of each list would (one event per list)."""
        by_parent: dict[int, list[int]] = {}
        for row in queryset.alive():
            by_parent.setdefault(row.parent_key, []).append(row.pk)
        for pks in by_parent.values():
            parent = self.model.objects.get(pk=pks[0]).parent

            def delete(ctx: ActionContext, pks: list[int] = pks, parent: Any = parent) -> None:
                rows = list(self.model.objects.alive().filter(pk__in=pks).select_for_update())
                actions.delete_objects(ctx, self.model, parent, rows)

            run_write(request, self.model, parent, delete)

    def get_deleted_objects(self, objs: Iterable[ResourceModel], request: HttpRequest):
        """The confirmation page names the objects and counts what goes with them (instead
        of listing every row below a bucket)."""
        objs = [obj for obj in objs if not obj.deleted]
        pks = [obj.pk for obj in objs]
        counts = {str(self.model._meta.verbose_name_plural): len(objs)}
        for child, lookup in descendants(self.model):
            count = child.objects.filter(**{f"{lookup}__in": pks}).count()
            if count:
                counts[str(child._meta.verbose_name_plural)] = count
        needed = set() if self.has_delete_permission(request) else {self.model._meta.verbose_name}
        return [str(obj) for obj in objs], counts, needed, []


class ReadOnlyAdmin:
    """What the server writes by itself (history, outbox): viewed, searched, never edited."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyResourceAdmin(ReadOnlyAdmin, ResourceListing, admin.ModelAdmin):
    """A resource type written by the server only (history entries)."""

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.view_fields()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.view_fields()
