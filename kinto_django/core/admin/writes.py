"""Admin writes go through the engine's actions, as the principal `django:<username>`, in a
savepoint: a refusal becomes a form error and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from kinto_django import errors
from kinto_django.core import timestamps
from kinto_django.core.context import ActionContext
from kinto_django.core.models import ResourceModel
from kinto_django.core.validation import check_principal
from kinto_django.errors import KintoError
from kinto_django.permissions import service as permissions
from kinto_django.permissions.authentication import site_user_id

T = TypeVar("T")


def admin_identity(request: HttpRequest) -> permissions.Identity:
    """The staff user as a Kinto principal, with its groups: `django:<username>`."""
    return permissions.identity_for_user_id(site_user_id(request.user.get_username()))


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
