"""The Django admin of every resource type, written once: apps register their models with a
`ResourceAdmin` (or `ReadOnlyResourceAdmin`) subclass of a few lines.

Lists are searchable by id and by text inside the JSON data, filtered by parent and by
tombstone. Every change goes through `kinto_django.core.actions` like an API write (scope locks,
validation, timestamps, ACLs, events), as the principal `django:<username>` (the user id the
`django` authentication policy gives the same staff user): with `explicit_permissions` on,
that principal is added to the `write` ACL of what the operator writes, as for any writer.
The write runs while the form is validated, in a savepoint: a refusal (invalid id, schema,
members...) becomes a form error and leaves nothing behind.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Func, Q, TextField
from django.http import HttpRequest
from django.utils.html import format_html
from guardian.admin import (
    AdminGroupObjectPermissionsForm,
    AdminUserObjectPermissionsForm,
    GuardedModelAdmin,
)

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import actions, chain, timestamps
from kinto_django.core.context import ActionContext
from kinto_django.core.models import ResourceModel
from kinto_django.core.validation import check_principal
from kinto_django.errors import KintoError
from kinto_django.permissions import service as permissions

T = TypeVar("T")
# How many parents a list filter offers (the search box finds the others).
MAX_FILTER_CHOICES = 200
SERVER_FIELDS = ("id", "last_modified")


def admin_identity(request: HttpRequest) -> permissions.Identity:
    """The staff user as a Kinto principal, with its groups: `django:<username>`."""
    return permissions.identity_for_user_id(f"django:{request.user.get_username()}")


def run_write(
    request: HttpRequest,
    model: type[ResourceModel],
    parent: ResourceModel | None,
    write: Callable[[ActionContext], T],
) -> T:
    """Run `write` as an API write of `model` in `parent` would run: its scopes locked first,
    in a savepoint, the events sent once the admin's transaction commits."""
    ctx = ActionContext(admin_identity(request))
    with transaction.atomic():
        timestamps.enter_write()
        timestamps.lock_write(model.resource_name, parent)
        result = write(ctx)
        ctx.events.send_on_commit()
    return result


def locked_row(model: type[ResourceModel], pk: int) -> ResourceModel | None:
    """The live row, locked until commit (None when it was deleted meanwhile)."""
    row = model.objects.select_for_update().filter(pk=pk).first()
    return row if row is not None and not row.deleted else None


def form_errors(error: KintoError) -> ValidationError:
    """A refusal of the actions as form errors: the id field, `permissions`, or `data`."""
    if not isinstance(error.details, list):
        return ValidationError(error.message or error.error)
    by_field: dict[str | None, list[str]] = {}
    for detail in error.details:
        name = str(detail.get("name") or "")
        if detail.get("location") == "path":
            field = "object_id"
        elif name.startswith("permissions"):
            field = "permissions"
        else:
            field = "data"
        by_field.setdefault(field, []).append(errors.validation_message([detail]))
    return ValidationError(by_field)


def checked_acls(model: type[ResourceModel], acls: dict[str, Any]) -> dict[str, list[str]]:
    """The `permissions` field as the API checks a body's: known names, lists of principals."""
    for name, principals in acls.items():
        if name not in model.acl_names:
            raise ValidationError(
                {"permissions": f'"{name}" is not one of {", ".join(model.acl_names)}'}
            )
        if not isinstance(principals, list):
            raise ValidationError({"permissions": f'"{name}" must be a list of principals'})
        for index, principal in enumerate(principals):
            try:
                check_principal(principal, f"permissions.{name}.{index}")
            except KintoError as error:
                raise form_errors(error) from None
    return acls


def pretty_json(value: Any) -> str:
    """Indented JSON, keys in their stored order, non-ASCII characters as they are."""
    return json.dumps(value, indent=2, ensure_ascii=False)


class JSONObjectField(forms.CharField):
    """A JSON object edited as indented text; bounded like a request body."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            forms.Textarea(attrs={"rows": 14, "cols": 100, "style": "font-family: monospace"}),
        )
        super().__init__(strip=True, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        return pretty_json(value) if isinstance(value, (dict, list)) else value

    def to_python(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        text = super().to_python(value)
        if not text:
            return {}
        try:
            parsed = jsonutil.loads(text)
        except jsonutil.JSONInputError as error:
            raise ValidationError(f"Invalid JSON: {error}", code="invalid") from None
        if not isinstance(parsed, dict):
            raise ValidationError("Enter a JSON object ({...}).", code="invalid")
        problem = jsonutil.check_structure(parsed, kinto_settings.max_json_depth)
        if problem:
            raise ValidationError(problem, code="invalid")
        return parsed


class ResourceForm(forms.ModelForm):
    """Create or edit one object; `ResourceAdmin.get_form` sets `model_admin` and `request`."""

    data = JSONObjectField(required=False, help_text="The object's JSON data.")
    permissions = JSONObjectField(
        required=False,
        label="Permissions",
        help_text='ACLs, e.g. {"read": ["system.Everyone"], "write": ["account:ana"]}.',
    )
    # The version the operator edited: a later change by someone else is not overwritten.
    seen_last_modified = forms.IntegerField(required=False, widget=forms.HiddenInput)

    model_admin: ClassVar[ResourceAdmin]
    request: ClassVar[HttpRequest]
    saved: ResourceModel | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        obj, model = self.instance, self._meta.model
        if obj.pk is not None:
            self.initial["data"] = self.model_admin.visible_data(obj)
            acls = permissions.object_permissions(obj)
            self.initial["permissions"] = {n: acls[n] for n in model.acl_names if n in acls}
            self.initial["seen_last_modified"] = obj.last_modified
        if "object_id" in self.fields:
            self.fields["object_id"].required = False
            self.fields["object_id"].help_text = "Leave empty for a generated id."
        parent_field = self.fields.get(model.parent_field or "")
        if parent_field is not None:
            parent_model = model._meta.get_field(model.parent_field).related_model
            parent_field.queryset = parent_choices(parent_model)
            parent_field.label_from_instance = lambda parent: parent.uri

    def _post_clean(self) -> None:
        """Write through the actions now, so that their refusals are this form's errors."""
        if self.errors:
            return
        try:
            self.saved = self.model_admin.write_form(self.request, self.instance, self)
        except KintoError as error:
            self._update_errors(form_errors(error))
        except ValidationError as error:
            self._update_errors(error)

    def save(self, commit: bool = True) -> ResourceModel:
        """The object the actions wrote (the form itself saves nothing)."""
        return self.saved

    def save_m2m(self) -> None:
        pass


def parent_choices(parent_model: type[ResourceModel]) -> models.QuerySet:
    """Live objects that can hold new children, with their own parents for their URIs."""
    above = [lookup for _, lookup in chain.ancestor_lookups(parent_model)]
    ordering = [f"{name}__object_id" for name in reversed(above)]
    return parent_model.objects.alive().select_related(*above).order_by(*ordering, "object_id")


class JSONText(Func):
    """The data as text for searching, without some top-level keys (account passwords)."""

    output_field = TextField()

    def __init__(self, expression: Any, hidden: Iterable[str] = ()) -> None:
        super().__init__(expression)
        self.hidden = tuple(hidden)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        params = list(params)
        for key in self.hidden:
            if connection.vendor == "postgresql":
                sql, params = f"({sql} - %s)", [*params, key]
            else:
                sql, params = f"json_remove({sql}, %s)", [*params, f'$."{key}"']
        if connection.vendor == "postgresql":
            return f"({sql})::text", params
        return f"CAST({sql} AS text)", params


def json_spellings(term: str) -> set[str]:
    """The ways `term` may appear in stored JSON text (raw, escaped, ASCII-escaped)."""
    return {term, json.dumps(term, ensure_ascii=False)[1:-1], json.dumps(term)[1:-1]}


def search_json(
    queryset: models.QuerySet,
    search_term: str,
    json_field: str,
    text_field: str,
    hidden_keys: Iterable[str] = (),
) -> models.QuerySet:
    """Rows whose `text_field` or JSON text (but for `hidden_keys`) contains the term, on
    SQLite and PostgreSQL alike (the JSON cast to text)."""
    term = search_term.strip()
    if not term:
        return queryset
    condition = Q(**{f"{text_field}__icontains": term})
    for spelling in json_spellings(term):
        condition |= Q(searched_text__icontains=spelling)
    queryset = queryset.annotate(searched_text=JSONText(json_field, hidden_keys))
    return queryset.filter(condition)


class TombstoneFilter(admin.SimpleListFilter):
    """Live objects by default; tombstones (deleted) on request."""

    title = "state"
    parameter_name = "state"
    CHOICES = ((None, "Live"), ("deleted", "Tombstones"), ("all", "All"))

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, label) for value, label in self.CHOICES if value]

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        for value, label in self.CHOICES:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value} if value else {}, [self.parameter_name]
                ),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted=self.value() == "deleted")


def ancestor_filters(model: type[ResourceModel]) -> list[type[admin.SimpleListFilter]]:
    """One list filter per level above `model` (bucket, then collection for records)."""
    return [
        parent_filter(ancestor, lookup)
        for ancestor, lookup in reversed(chain.ancestor_lookups(model))
    ]


def parent_filter(parent_model: type[ResourceModel], lookup: str) -> type[admin.SimpleListFilter]:
    name = parent_model.resource_name

    class ParentFilter(admin.SimpleListFilter):
        title = name
        parameter_name = name

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[int, str]]:
            parents = parent_choices(parent_model)
            # Narrowed to the selected ancestor (a bucket's collections).
            for ancestor in chain.parent_models(parent_model):
                selected = request.GET.get(ancestor.resource_name)
                if selected and selected.isdigit():
                    parents = parents.filter(
                        **{ancestor_lookup(parent_model, ancestor): int(selected)}
                    )
            return [(p.pk, p.uri) for p in parents[:MAX_FILTER_CHOICES]]

        def queryset(self, request: HttpRequest, queryset: models.QuerySet) -> models.QuerySet:
            value = self.value()
            if value and value.isdigit():
                return queryset.filter(**{lookup: int(value)})
            return queryset

    return ParentFilter


def ancestor_lookup(model: type[ResourceModel], ancestor: type[ResourceModel]) -> str:
    return dict(chain.ancestor_lookups(model))[ancestor]


def descendants(
    model: type[ResourceModel], prefix: str = ""
) -> Iterator[tuple[type[ResourceModel], str]]:
    """Types below `model` and the lookup from each to it (what a deletion purges)."""
    for child in actions.children_of(model):
        lookup = f"{child.parent_field}__{prefix}" if prefix else child.parent_field
        yield child, lookup
        yield from descendants(child, lookup)


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


class ResourceAdmin(ResourceListing, GuardedModelAdmin):
    """Buckets, collections, groups, records, accounts: written only through the actions.

    Tombstones are shown read-only. Guardian's "Object permissions" pages are kept, and
    routed through `update_object` as well (its users and groups are the Kinto principals).
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

    # --- guardian's "Object permissions" pages ---------------------------------------------

    def get_obj_perms_manage_user_form(self, request: HttpRequest) -> type[forms.Form]:
        return guarded_form(AdminUserObjectPermissionsForm, self, request, "user")

    def get_obj_perms_manage_group_form(self, request: HttpRequest) -> type[forms.Form]:
        return guarded_form(AdminGroupObjectPermissionsForm, self, request, "group")


def guarded_form(
    base: type[forms.Form], model_admin: ResourceAdmin, request: HttpRequest, holder: str
) -> type[forms.Form]:
    """Guardian's per-principal form, offering the type's ACL names only and saving through
    `update_object` (new timestamp, event), like a PATCH of `permissions`."""

    class ActionPermissionsForm(base):
        def get_obj_perms_field_choices(self) -> list[tuple[str, str]]:
            return [(name, name) for name in self.obj.acl_names]

        def clean(self) -> dict[str, Any]:
            cleaned = super().clean()
            if self.errors:
                return cleaned
            principal_model = getattr(self, holder)
            principal = (
                principal_model.get_username() if holder == "user" else principal_model.name
            )
            wanted = set(cleaned.get(self.get_obj_perms_field_name()) or ())
            obj = self.obj

            def update(ctx: ActionContext) -> None:
                row = locked_row(type(obj), obj.pk)
                if row is None:
                    # Guardian's pages show the errors of fields only.
                    raise ValidationError({"permissions": "Deleted objects keep no permissions."})
                current = permissions.object_permissions(row)
                acls, changed = {}, []
                for name in row.acl_names:
                    before = set(current.get(name, ()))
                    after = before | {principal} if name in wanted else before - {principal}
                    if after != before:
                        acls[name], changed = sorted(after), [*changed, name]
                if changed:
                    actions.update_object(ctx, row, None, acls, changed)

            run_write(request, type(obj), obj.parent, update)
            return cleaned

        def save_obj_perms(self) -> None:
            """Saved by `clean` already."""

    return ActionPermissionsForm


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
