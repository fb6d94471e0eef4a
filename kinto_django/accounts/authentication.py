"""The `account` authentication policy: Basic credentials checked against `/accounts`."""

from __future__ import annotations

from rest_framework.request import Request

from kinto_django.accounts import passwords
from kinto_django.permissions.authentication import PolicyAuthentication, basic_credentials


class AccountAuthentication(PolicyAuthentication):
    """`Authorization: Basic id:password` of an existing account gives `account:<id>`."""

    name = "account"

    def identify(self, request: Request) -> str | None:
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
            # As slow as a wrong password: the answer's time must not tell which account
            # ids exist.
            passwords.check_against_nothing(password)
            return None
        client = request.META.get("REMOTE_ADDR", "")
        return account_id if passwords.verify(account_id, password, stored, client) else None
