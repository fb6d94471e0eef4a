"""The host site's users as principals: `django:<username>` is the user row itself.

When a site user is deleted, or renamed, the principal of its former name stops existing: its
grants, memberships and history readers go, as for a deleted account, so that a later user of
that name inherits nothing. Renames are seen through the model's `save()` (forms, the admin);
a `QuerySet.update()` of usernames skips Django's signals and keeps the old grants.
"""

from __future__ import annotations

from typing import Any

from kinto_django.core.context import ActionContext
from kinto_django.core.signals import principals_removed
from kinto_django.permissions import service as permissions
from kinto_django.permissions.authentication import site_user_id
from kinto_django.permissions.identity import OPERATOR


def forget_site_principals(principals: list[str]) -> None:
    """Take these principals out of group members (each group written like any change),
    history readers, ACLs and memberships."""
    ctx = ActionContext(OPERATOR)
    principals_removed.send(ActionContext, ctx=ctx, principals=principals)
    permissions.revoke_users(principals)
    ctx.events.send_on_commit()


def note_rename(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """Before a site user is saved: remember its former name when the save renames it."""
    field = sender.USERNAME_FIELD
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and field not in update_fields:
        return  # e.g. `last_login` on every login: nothing to look up
    former = sender._base_manager.filter(pk=instance.pk).values_list(field, flat=True).first()
    if former is not None and former != getattr(instance, field):
        instance._kinto_former_username = former


def forget_former_name(sender: Any, instance: Any, **kwargs: Any) -> None:
    former = instance.__dict__.pop("_kinto_former_username", None)
    if former is not None:
        forget_site_principals([site_user_id(former)])


def forget_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    forget_site_principals([site_user_id(instance.get_username())])


def connect() -> None:
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save, pre_save

    user_model = get_user_model()
    pre_save.connect(note_rename, sender=user_model, dispatch_uid="kinto-site-user-rename")
    post_save.connect(
        forget_former_name, sender=user_model, dispatch_uid="kinto-site-user-renamed"
    )
    post_delete.connect(forget_deleted, sender=user_model, dispatch_uid="kinto-site-user-deleted")
