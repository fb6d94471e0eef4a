"""`/accounts`: the resource protocol plus the account rules of spec/05.

An account belongs to itself (`write: ["account:<id>"]`); admins are the principals of
`account_write_principals`; sign-up is open to `account_create_principals`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from kinto_django import errors
from kinto_django.accounts.models import Account
from kinto_django.conf import kinto_settings
from kinto_django.core.api.viewsets import ResourceViewSet
from kinto_django.core.query import ListQuery
from kinto_django.permissions.service import setting_grants

HIDDEN_FIELDS = ("password",)


def accounts_enabled() -> bool:
    return "account" in kinto_settings.auth_policies


def reserved_account_ids() -> set[str]:
    """Account ids that the `account_*_principals` settings grant rights to."""
    return {
        principal.split(":", 1)[1]
        for name in ("create", "read", "write")
        for principal in kinto_settings.principals(f"account_{name}_principals")
        if principal.startswith("account:")
    }


class AccountViewSet(ResourceViewSet):
    model = Account
    # Off without the `account` policy: answers 404 and is left out of `/__api__`.
    route_enabled = staticmethod(accounts_enabled)

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        if not accounts_enabled():
            raise errors.url_not_found()
        super().initial(request, *args, **kwargs)

    def is_admin(self) -> bool:
        return setting_grants(self.identity, "account", "write")

    def check_account_id(self, account_id: Any) -> None:
        """A signed-in user other than an admin may only create or replace its own account."""
        identity = self.identity
        if (
            identity.authenticated
            and not self.is_admin()
            and identity.user_id != f"account:{account_id}"
        ):
            raise errors.invalid("body", "data.id", "Username and account ID do not match.")

    def shows_permissions(self, acls: dict[str, list[str]], status: int) -> bool:
        # An anonymous sign-up acts as the new account, its own author: the response shows
        # the ACL it got (spec/05's example). An admin creating an account is not in it.
        signing_up = status == 201 and not self.identity.authenticated
        return signing_up or super().shows_permissions(acls, status)

    def check_not_reserved(self, account_id: Any) -> None:
        """Only admins create the accounts that the `account_*_principals` settings name:
        otherwise the first stranger to sign up as `admin` would administer every account
        (operators create them with `manage.py kinto_create_account`)."""
        if account_id in reserved_account_ids() and not self.is_admin():
            if not Account.objects.alive().filter(object_id=account_id).exists():
                raise errors.forbidden()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        data = self.read_envelope().get("data") or {}
        if "id" not in data:
            raise errors.invalid("body", "data.id", "data.id in body: Required")
        self.check_account_id(data["id"])
        self.check_not_reserved(data["id"])
        return super().create(request, *args, **kwargs)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.check_account_id(self.object_id)
        self.check_not_reserved(self.object_id)
        return super().update(request, *args, **kwargs)

    def visible_queryset(self, permission: str):
        if permission == "read" and not self.identity.authenticated:
            raise errors.KintoError(401, errors.ERRNO.UNDEFINED, error="Cannot read accounts.")
        return super().visible_queryset(permission)

    def parse_query(self, params: list[tuple[str, str]]) -> ListQuery:
        query = super().parse_query(params)
        # Password hashes never leave the server, not even through filters, sorts or tokens.
        for flt in query.filters:
            if flt.path[0] in HIDDEN_FIELDS:
                raise errors.invalid(
                    "querystring", flt.param, f"Unknown filter field '{flt.field}'"
                )
        for sort in query.sort:
            if sort.path[0] in HIDDEN_FIELDS:
                raise errors.invalid("querystring", "_sort", f"Unknown sort field '{sort.field}'")
        return query
