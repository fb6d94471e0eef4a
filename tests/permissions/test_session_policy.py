"""The `django` policy: a host site's logged-in users are principals `django:<username>`."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.db import models
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.test.utils import isolate_apps
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from kinto_django.permissions.authentication import SiteSessionAuthentication, authenticate
from tests import factories


@pytest.fixture
def site_user(db):
    return get_user_model().objects.create_user("alice", password="pw")


def request_for(method, user, **extra):
    request = RequestFactory().generic(method, "/v1/buckets/x", **extra)
    request.user = user
    return request


def test_logged_in_user_is_a_django_principal(site_user, kinto_settings):
    kinto_settings(auth_policies="django basicauth")
    assert authenticate(request_for("GET", site_user)) == "django:alice"


def test_not_logged_in_falls_through_to_the_next_policy(db, kinto_settings):
    kinto_settings(auth_policies="django")
    assert authenticate(request_for("GET", AnonymousUser())) is None
    # Without the authentication middleware there is no request.user at all.
    assert SiteSessionAuthentication().authenticate(Request(RequestFactory().get("/"))) is None


def test_unsafe_methods_need_the_csrf_token(site_user, kinto_settings):
    kinto_settings(auth_policies="django")
    with pytest.raises(PermissionDenied) as refused:
        authenticate(request_for("PUT", site_user))
    assert str(refused.value.detail).startswith("CSRF Failed")
    # With the site's token (cookie + header), the write is the user's.
    token_request = RequestFactory().get("/")
    token = get_token(token_request)
    request = request_for("PUT", site_user, HTTP_X_CSRFTOKEN=token)
    request.COOKIES["csrftoken"] = token_request.META["CSRF_COOKIE"]
    assert authenticate(request) == "django:alice"


def test_policy_is_off_unless_configured(site_user):
    assert authenticate(request_for("GET", site_user)) is None


@pytest.mark.parametrize(
    ("policies", "unknown"),
    [
        ("basicauth account django", []),
        ("rest_framework.authentication.TokenAuthentication", []),
        ("basicauht", ["basicauht"]),
        ("myapp.auth.Missing basicauth", ["myapp.auth.Missing"]),
        ("django.http.HttpRequest", ["django.http.HttpRequest"]),
    ],
)
def test_unknown_policies_are_reported_at_start(kinto_settings, policies, unknown):
    """A misspelt policy would leave its users anonymous: the system check names it."""
    from django.core.checks import run_checks

    kinto_settings(auth_policies=policies)
    errors = [m for m in run_checks() if m.id == "kinto_permissions.E001"]
    assert [m.msg for m in errors] == [
        f"Unknown authentication policy {name!r} in auth_policies." for name in unknown
    ]


def test_a_site_authentication_class_gives_site_principals(site_user, kinto_settings):
    """A host site's own DRF class (here the session one, by its dotted path) is a policy:
    its users are `django:<username>`, and credentials it refuses leave the caller anonymous."""
    kinto_settings(auth_policies="rest_framework.authentication.SessionAuthentication")
    assert authenticate(request_for("GET", site_user)) == "django:alice"
    assert authenticate(request_for("GET", AnonymousUser())) is None


@isolate_apps("kinto_django.permissions")
def test_user_models_that_cannot_hold_principals_are_refused_at_start():
    """A required field without default, or a second unique field, would refuse the rows
    that stand for the API's principals: the system check names them."""
    from kinto_django.permissions.checks import fields_principals_cannot_fill

    class Member(AbstractUser):
        class Meta:
            app_label = "kinto_permissions"

        display_name = models.CharField(max_length=50, blank=True)
        newsletter = models.BooleanField(default=False)
        nickname = models.CharField(max_length=50, null=True)

    class StrictMember(AbstractUser):
        class Meta:
            app_label = "kinto_permissions"

        birth_date = models.DateField()
        phone = models.CharField(max_length=20, unique=True, default="")

    assert fields_principals_cannot_fill(Member) == []
    assert fields_principals_cannot_fill(StrictMember) == ["birth_date", "phone"]


def test_the_projects_user_models_hold_principals():
    from django.core.checks import run_checks

    assert [m for m in run_checks() if m.id == "kinto_permissions.E002"] == []


def test_a_batch_runs_as_the_logged_in_user_under_a_wsgi_server(site_user, kinto_settings):
    """As under runserver: the batch and each of its sub-requests are the site user's, with
    the site's CSRF token (a batch is a POST)."""
    from django.test import Client

    kinto_settings(auth_policies="django")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(site_user)
    token = get_token(RequestFactory().get("/"))
    browser.cookies["csrftoken"] = token
    batch = {
        "requests": [
            {"method": "PUT", "path": "/buckets/site"},
            {"method": "PUT", "path": "/buckets/site/collections/notes"},
            {"path": "/buckets/site"},
        ]
    }
    response = browser.post(
        "/v1/batch", batch, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content
    statuses = [sub["status"] for sub in response.json()["responses"]]
    assert statuses == [201, 201, 200], response.json()
    bucket = response.json()["responses"][2]["body"]
    assert bucket["permissions"]["write"] == ["django:alice"]


def test_basic_auth_with_the_sites_own_passwords_through_drf(api, site_user, kinto_settings):
    """DRF's BasicAuthentication (Django's `authenticate()`, the site's passwords) as a
    policy: the caller is the site user, unlike `basicauth`, which accepts any pair."""
    kinto_settings(auth_policies="rest_framework.authentication.BasicAuthentication")
    assert api.get("/", user=("alice", "pw")).json["user"]["id"] == "django:alice"
    # A wrong password is no user at all (anonymous), as with every policy.
    assert "user" not in api.get("/", user=("alice", "wrong")).json


def test_a_grant_that_cannot_be_stored_fails_the_write(api, monkeypatch):
    """A site's user model may skip a principal's row without an error (another unique field:
    `email=''` taken already). The write that grants it fails and changes nothing, instead of
    answering 200 with a grant that is not there."""
    factories.collection(api)
    before = api.get("/buckets/shop/collections/orders").json["permissions"]
    User = get_user_model()
    monkeypatch.setattr(User.objects, "bulk_create", lambda *args, **kwargs: [])
    response = api.patch(
        "/buckets/shop/collections/orders", {"permissions": {"read": ["account:nobody-yet"]}}
    )
    assert response.status == 500
    assert api.get("/buckets/shop/collections/orders").json["permissions"] == before
