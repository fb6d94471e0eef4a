"""Who is calling: authentication policies and the caller's principals.

A request is offered to the configured policies in order (`auth_policies` setting); the first
that recognises its credentials gives the user id `<policy>:<identifier>`. Failing or absent
credentials never fail the request by themselves: the caller is simply anonymous.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Protocol

from django.http import HttpRequest

from kinto_django.conf import kinto_settings

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"


@dataclass(frozen=True)
class Identity:
    """The caller: its user id (None when anonymous) and every principal it holds."""

    user_id: str | None
    principals: tuple[str, ...] = field(default=(EVERYONE,))

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Identity(None, (EVERYONE,))


class Policy(Protocol):
    name: str

    def authenticate(self, request: HttpRequest) -> str | None:
        """The identifier (without prefix) of the caller, or None if not recognised."""


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


class BasicAuthPolicy:
    """Any `user:password` pair is a user: HMAC-SHA256 of both with `userid_hmac_secret`."""

    name = "basicauth"

    def authenticate(self, request: HttpRequest) -> str | None:
        credentials = basic_credentials(request)
        if credentials is None:
            return None
        user, password = credentials
        return basicauth_identifier(user, password)


def basicauth_identifier(user: str, password: str) -> str:
    secret = kinto_settings.userid_hmac_secret.encode("utf-8")
    return hmac.new(secret, f"{user}:{password}".encode(), hashlib.sha256).hexdigest()


class DjangoSessionPolicy:
    """The host site's logged-in users (session cookie): user id `django:<username>`.

    Only useful when the apps are embedded in a site with Django's session and
    authentication middleware. A cookie is sent by browsers on their own, so unsafe methods
    must carry the site's CSRF token, exactly as for the site's own forms.
    """

    name = "django"

    def authenticate(self, request: HttpRequest) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            reason = csrf_failure(request)
            if reason is not None:
                from kinto_django import errors

                raise errors.KintoError(403, errors.ERRNO.FORBIDDEN, f"CSRF Failed: {reason}")
        return user.get_username()


def csrf_failure(request: HttpRequest) -> str | None:
    """Why Django's CSRF protection refuses this request, or None when it passes."""
    from django.middleware.csrf import CsrfViewMiddleware

    reasons: list[str] = []

    class Check(CsrfViewMiddleware):
        def _reject(self, request: HttpRequest, reason: str) -> None:
            reasons.append(reason)

    Check(lambda request: None).process_view(request, None, (), {})
    return reasons[0] if reasons else None


POLICIES: dict[str, Policy] = {"basicauth": BasicAuthPolicy(), "django": DjangoSessionPolicy()}


def register_policy(policy: Policy) -> None:
    """Make a policy available to the `auth_policies` setting (accounts, sessions…)."""
    POLICIES[policy.name] = policy


def authenticate(request: HttpRequest) -> str | None:
    """The prefixed user id of the request, or None."""
    for name in kinto_settings.auth_policies:
        policy = POLICIES.get(name)
        if policy is None:
            continue
        identifier = policy.authenticate(request)
        if identifier:
            return f"{name}:{identifier}"
    return None
