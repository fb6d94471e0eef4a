"""The `django` policy: a host site's logged-in users are principals `django:<username>`."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.middleware.csrf import get_token
from django.test import RequestFactory
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


SITE_BASIC = "rest_framework.authentication.BasicAuthentication"


def test_principals_are_never_rows_of_the_sites_tables(api, site_user):
    """Sharing with any number of principals, and groups of any members, add no user and no
    group to the site: a user model with a unique e-mail or a required field cannot refuse a
    grant, and the site's `User.objects` counts only its users."""
    from django.contrib.auth.models import Group

    factories.collection(api)
    readers = [f"account:reader{i}" for i in range(20)] + ["django:bob", "system.Authenticated"]
    api.patch("/buckets/shop/collections/orders", {"permissions": {"read": readers}})
    factories.group(api, "staff", members=["account:ana", "django:bob", "bare-name"])
    acls = api.get("/buckets/shop/collections/orders").json["permissions"]
    assert acls["read"] == sorted(readers)
    members = api.get("/buckets/shop/groups/staff").json["data"]["members"]
    assert members == ["account:ana", "django:bob", "bare-name"]
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["alice"]
    assert not Group.objects.exists()


def shared_with_site_user(api, name):
    """A collection that `django:<name>` reads, a group listing it, and its history entries."""
    factories.collection(api, permissions={"read": [f"django:{name}"]})
    factories.group(api, "staff", members=[f"django:{name}", "account:ana"])
    factories.collection(
        api, collection_id="invoices", permissions={"read": ["/buckets/shop/groups/staff"]}
    )


def test_a_deleted_site_user_leaves_every_acl_and_group(api, kinto_settings):
    kinto_settings(auth_policies=f"{SITE_BASIC} basicauth")
    User = get_user_model()
    bob = User.objects.create_user("bob", password="pw")
    shared_with_site_user(api, "bob")
    assert api.get("/buckets/shop/collections/invoices", user=("bob", "pw")).status == 200
    before = api.get("/buckets/shop/groups/staff").json["data"]["last_modified"]

    bob.delete()

    orders = api.get("/buckets/shop/collections/orders").json["permissions"]
    assert "django:bob" not in orders.get("read", [])
    staff = api.get("/buckets/shop/groups/staff").json["data"]
    assert staff["members"] == ["account:ana"]
    assert staff["last_modified"] > before  # written like any change: syncing clients see it
    # A new site user of the same name starts with nothing.
    User.objects.create_user("bob", password="new")
    for path in ("orders", "invoices"):
        response = api.get(f"/buckets/shop/collections/{path}", user=("bob", "new"))
        assert response.status == 403, path


def test_a_renamed_site_user_leaves_the_grants_of_its_former_name(api, kinto_settings):
    kinto_settings(auth_policies=f"{SITE_BASIC} basicauth")
    User = get_user_model()
    bob = User.objects.create_user("bob", password="pw")
    shared_with_site_user(api, "bob")
    bob.username = "robert"
    bob.save()
    assert "django:bob" not in api.get("/buckets/shop/collections/orders").json["permissions"].get(
        "read", []
    )
    assert api.get("/buckets/shop/groups/staff").json["data"]["members"] == ["account:ana"]
    User.objects.create_user("bob", password="new")
    assert api.get("/buckets/shop/collections/invoices", user=("bob", "new")).status == 403
    # Saving other fields (a login's `last_login`) changes nothing and looks nothing up.
    api.patch("/buckets/shop/collections/orders", {"permissions": {"read": ["django:robert"]}})
    bob.first_name = "Robert"
    bob.save(update_fields=["first_name"])
    bob.save()
    robert = api.get("/buckets/shop/collections/orders", user=("robert", "pw"))
    assert robert.status == 200


def test_guardians_anonymous_user_is_reported(settings):
    """guardian (installed for its models) would add `AnonymousUser` to the site's users."""
    from django.core.checks import run_checks

    def warned():
        return [m for m in run_checks() if m.id == "kinto_permissions.W001"]

    assert settings.ANONYMOUS_USER_NAME is None and warned() == []
    del settings.ANONYMOUS_USER_NAME  # guardian's default: "AnonymousUser"
    assert len(warned()) == 1
    settings.ANONYMOUS_USER_NAME = "Guest"
    assert "ANONYMOUS_USER_NAME = None" in warned()[0].hint
