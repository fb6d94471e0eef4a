"""Who is calling: the authentication policies, as DRF authentication classes.

A request is offered to the policies of the `auth_policies` setting in order; the first that
recognises its credentials gives the user id `<policy>:<identifier>`. Failing or absent
credentials never fail the request by themselves: the caller is simply anonymous (a host
site's logged-in user still needs the site's CSRF token for unsafe methods, as for its own
forms).

A policy is a name (`basicauth`, `django`, or one an app registers, like `account`) or the
dotted path of any DRF authentication class of the host site (token, JWT…): the users such a
class returns are the site's own, principal `django:<username>` like a session's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any, ClassVar

from django.http import HttpRequest
from django.utils.module_loading import import_string
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from kinto_django.conf import kinto_settings

# `WWW-Authenticate` of a 401: clients (browsers, kinto-http) then ask for credentials.
BASIC_CHALLENGE = 'Basic realm="Realm"'


class PrincipalUser:
    """The user a policy recognised: a prefixed user id (`account:ana`, `django:bob`), never a
    row of the host site's user table."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    def get_username(self) -> str:
        return self.user_id

    def __str__(self) -> str:
        return self.user_id


def site_user_id(username: str) -> str:
    """The user id of the host site's user of this name: `django:<username>`."""
    return f"django:{username}"


def site_principal(user: Any) -> PrincipalUser:
    """A host site's user as the caller."""
    return PrincipalUser(site_user_id(user.get_username()))


class PolicyAuthentication(BaseAuthentication):
    """An API policy: `identify()` gives the caller's identifier, without prefix, or None."""

    name: ClassVar[str]

    def identify(self, request: Request) -> str | None:
        raise NotImplementedError

    def authenticate(self, request: Request) -> tuple[PrincipalUser, None] | None:
        identifier = self.identify(request)
        if not identifier:
            return None
        return PrincipalUser(f"{self.name}:{identifier}"), None

    def authenticate_header(self, request: Request) -> str:
        return BASIC_CHALLENGE


def basic_credentials(request: Request | HttpRequest) -> tuple[str, str] | None:
    """`user` and `password` of an `Authorization: Basic` header, when it is well formed."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user or "\x00" in decoded:
        # NUL cannot be stored nor looked up (PostgreSQL refuses it in any string): such
        # credentials name nobody.
        return None
    return user, password


class HMACBasicAuthentication(PolicyAuthentication):
    """`basicauth`: any `user:password` pair is a user, HMAC-SHA256 of both keyed with
    `userid_hmac_secret` (nothing is stored; the same pair is always the same user)."""

    name = "basicauth"

    def identify(self, request: Request) -> str | None:
        credentials = basic_credentials(request)
        if credentials is None:
            return None
        user, password = credentials
        return basicauth_identifier(user, password)


def basicauth_identifier(user: str, password: str) -> str:
    secret = kinto_settings.userid_hmac_secret.encode("utf-8")
    return hmac.new(secret, f"{user}:{password}".encode(), hashlib.sha256).hexdigest()


class SiteSessionAuthentication(SessionAuthentication):
    """`django`: the host site's logged-in users (session cookie). DRF's session
    authentication checks the site's CSRF token on unsafe methods: a browser sends the
    cookie on its own, so a write must prove it comes from the site's pages."""

    name = "django"

    def authenticate(self, request: Request) -> tuple[PrincipalUser, None] | None:
        result = super().authenticate(request)
        return None if result is None else (site_principal(result[0]), None)


class SiteAuthentication(BaseAuthentication):
    """A host site's own DRF authentication class (token, JWT…) named by its dotted path: its
    users are site users; credentials it refuses leave the caller anonymous, as ours do."""

    def __init__(self, wrapped: BaseAuthentication) -> None:
        self.wrapped = wrapped

    def authenticate(self, request: Request) -> tuple[PrincipalUser, Any] | None:
        try:
            result = self.wrapped.authenticate(request)
        except exceptions.AuthenticationFailed:
            return None
        if result is None:
            return None
        user, auth = result
        return site_principal(user), auth

    def authenticate_header(self, request: Request) -> str | None:
        return self.wrapped.authenticate_header(request)


POLICIES: dict[str, type[BaseAuthentication]] = {
    HMACBasicAuthentication.name: HMACBasicAuthentication,
    SiteSessionAuthentication.name: SiteSessionAuthentication,
}


def register_policy(name: str, authentication_class: type[BaseAuthentication]) -> None:
    """Make a policy available to the `auth_policies` setting by name (e.g. `account`)."""
    POLICIES[name] = authentication_class


def policy_authenticators() -> list[BaseAuthentication]:
    """The configured policies, in order (names that are neither registered nor dotted paths
    are reported by a system check and skipped)."""
    authenticators: list[BaseAuthentication] = []
    for name in kinto_settings.auth_policies:
        policy = POLICIES.get(name)
        if policy is not None:
            authenticators.append(policy())
        elif "." in name:
            authenticators.append(SiteAuthentication(import_string(name)()))
    return authenticators


def authenticate(request: Request | HttpRequest) -> str | None:
    """The prefixed user id of a request, or None when no policy recognises it.

    The policies run as DRF runs authentication classes, but the caller is not written to
    `request.user`: a host site's own middleware and views keep seeing the site's user.
    """
    if not isinstance(request, Request):
        request = Request(request, authenticators=policy_authenticators())
    for authenticator in request.authenticators:
        result = authenticator.authenticate(request)
        if result is not None:
            user = result[0]
            return user.user_id if isinstance(user, PrincipalUser) else None
    return None
