"""Account writes for operators (management commands), through the same actions as the API."""

from __future__ import annotations

from kinto_django.accounts.models import Account
from kinto_django.core import actions
from kinto_django.core.context import ActionContext
from kinto_django.errors import KintoError
from kinto_django.permissions.identity import OPERATOR


def save_account(account_id: str, password: str, *, create: bool) -> Account:
    """Create an account, or change the password of an existing one (ValueError otherwise)."""
    if not Account.valid_id(account_id):
        raise ValueError(f"Invalid account id: {account_id!r}")
    if not password:
        raise ValueError("The password may not be empty")
    ctx = ActionContext(OPERATOR)
    row = Account.objects.filter(object_id=account_id).first()
    try:
        if row is None or row.deleted:
            if not create:
                raise ValueError(f"No account {account_id!r}")
            account = actions.create_object(
                ctx, Account, None, account_id, {"password": password}, {}, tombstone=row
            )
        else:
            if create:
                raise ValueError(f"Account {account_id!r} already exists")
            _, account = actions.update_object(ctx, row, {**row.data, "password": password})
    except KintoError as error:
        raise ValueError(error.message) from None
    ctx.events.send_on_commit()
    return account
