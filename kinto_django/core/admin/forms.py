"""The form of every resource type: `data` edited as indented JSON, ids and parents checked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import chain
from kinto_django.core.admin.writes import form_errors
from kinto_django.core.models import ResourceModel
from kinto_django.errors import KintoError
from kinto_django.permissions import service as permissions

if TYPE_CHECKING:
    from kinto_django.core.admin.resources import ResourceAdmin


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
