"""System checks of the permissions settings."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core import checks
from django.db.models import Model
from django.utils.module_loading import import_string
from rest_framework.authentication import BaseAuthentication

from kinto_django.conf import kinto_settings
from kinto_django.permissions.authentication import POLICIES


@checks.register(checks.Tags.security)
def check_auth_policies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every `auth_policies` entry is a known policy or a DRF authentication class: a typo
    would otherwise leave its users anonymous without a word."""
    problems = []
    for name in kinto_settings.auth_policies:
        if name in POLICIES:
            continue
        try:
            policy = import_string(name) if "." in name else None
        except ImportError:
            policy = None
        if not (isinstance(policy, type) and issubclass(policy, BaseAuthentication)):
            problems.append(
                checks.Error(
                    f"Unknown authentication policy {name!r} in auth_policies.",
                    hint=f"Use one of {', '.join(sorted(POLICIES))} or the dotted path of a "
                    "DRF authentication class.",
                    id="kinto_permissions.E001",
                )
            )
    return problems


@checks.register(checks.Tags.models)
def check_user_model(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Principals other than groups (`account:ana`, `basicauth:…`) are stored as rows of the
    site's user model, named by the principal alone: a user model that needs another value
    for each row would refuse them, and every write granting them would fail. Say so at
    start-up instead."""
    user_model = get_user_model()
    return [
        checks.Error(
            f"{user_model._meta.label}.{name} needs a value of its own on every row: the API "
            "cannot store its principals as users.",
            hint="Give the field a default (and drop its uniqueness), or keep the API's "
            "principals apart from this user model.",
            obj=user_model,
            id="kinto_permissions.E002",
        )
        for name in fields_principals_cannot_fill(user_model)
    ]


def fields_principals_cannot_fill(user_model: type[Model]) -> list[str]:
    """Fields of a user model that a row holding only a username cannot satisfy: required
    without a default, or unique besides the username."""
    names = []
    for field in user_model._meta.concrete_fields:
        if field.primary_key or field.name == user_model.USERNAME_FIELD:
            continue
        required = not field.null and not field.has_default() and not field.empty_strings_allowed
        if required or field.unique:
            names.append(field.name)
    return names
