"""The `account` authentication policy: Basic credentials checked against `/accounts`."""

from __future__ import annotations

from django.http import HttpRequest

from kinto_django.accounts import passwords
from kinto_django.permissions.auth import basic_credentials


class AccountPolicy:
    """`Authorization: Basic id:password` of an existing account gives `account:<id>`."""

    name = "account"

    def authenticate(self, request: HttpRequest) -> str | None:
        from kinto_django.accounts.models import Account

        credentials = basic_credentials(request)
        if credentials is None:
            return None
        account_id, password = credentials
        data = (
            Account.objects.alive()
            .filter(object_id=account_id)
            .values_list("data", flat=True)
            .first()
        )
        stored = data.get("password") if isinstance(data, dict) else None
        if not isinstance(stored, str):
            return None
        return account_id if passwords.verify(account_id, password, stored) else None
