"""Accounts: user names with a password, managed through `/v1/accounts`."""

from __future__ import annotations

from typing import Any

from django.db import models

from kinto_django import errors
from kinto_django.accounts import passwords
from kinto_django.core.models import ResourceModel
from kinto_django.core.signals import principals_removed
from kinto_django.permissions import service as permissions


class Account(ResourceModel):
    """An account; its principal is `account:<id>`. `data.password` holds the hash, which no
    response, event or patch operation ever sees: they see `public_data()`'s digest."""

    resource_name = "account"
    plural_name = "accounts"
    acl_names = ("read", "write")
    # User names, e-mail addresses included (spec/05).
    id_pattern = r"[a-zA-Z0-9][+.@a-zA-Z0-9_-]*"
    id_length_setting = "max_account_id_length"
    # Lists go through public_data(): the stored hash must never reach a response.
    renders_in_sql = False
    # Fields a write must send in `data` (spec/05; shown in `/__api__`).
    required_data_fields = {"POST": ("id", "password"), "PUT": ("password",)}

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["object_id"], name="kinto_account_id"),
            models.UniqueConstraint(fields=["last_modified"], name="kinto_account_timestamp"),
        ]
        permissions = [("read", "Read the account"), ("write", "Write the account")]

    @property
    def principal(self) -> str:
        return f"account:{self.object_id}"

    def owner_principal(self, writer: str) -> str:
        # An account belongs to itself, whoever created it (an admin, or anyone at sign-up).
        return self.principal

    @classmethod
    def validate_data(cls, data: dict[str, Any], *, parent: Any, old: Any) -> dict[str, Any]:
        password = data.get("password")
        if password is None or password == "":
            raise errors.invalid("body", "data.password", "Required")
        if not isinstance(password, str):
            raise errors.invalid("body", "data.password", f"{password!r} is not a string")
        stored = old.data.get("password") if old is not None else None
        if isinstance(stored, str) and password in (stored, passwords.public_digest(stored)):
            # Unchanged: what a client was shown (the digest) came back, through a merge or
            # an object written back as it was read. The hash stays, and is never shown.
            return {**data, "password": stored}
        return {**data, "password": passwords.hash_password(password)}

    def public_data(self) -> dict[str, Any]:
        data = super().public_data()
        if "password" in data:
            data["password"] = passwords.public_digest(data["password"])
        return data

    def on_saved(self) -> None:
        passwords.forget([self.object_id])

    @classmethod
    def on_deleted(cls, ctx: Any, objs: list[ResourceModel]) -> None:
        # Groups forget the deleted accounts while their memberships still say where they are.
        principals_removed.send(cls, ctx=ctx, principals=[obj.principal for obj in objs])

    @classmethod
    def on_purged(cls, queryset: models.QuerySet) -> None:
        account_ids = list(queryset.values_list("object_id", flat=True))
        passwords.forget(account_ids)
        # Whoever signs up later under the same name must not inherit anything.
        permissions.revoke_users([f"account:{account_id}" for account_id in account_ids])
