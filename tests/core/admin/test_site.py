"""The admin sits beside the API without changing it: its own URL, login, static files."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests import factories


def test_admin_needs_a_staff_login(db):
    response = Client().get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Client().get("/admin")["Location"] == "/admin/"


def test_staff_sees_every_resource_type(staff):
    page = staff.get("/admin/").content.decode()
    for name in ("Buckets", "Collections", "Groups", "Records", "Accounts", "History entries"):
        assert name in page
    assert "Outbox entrys" in page or "Outbox entries" in page


def test_admin_is_not_part_of_the_api(anonymous):
    for path in ("/v1/admin", "/v1/admin/login"):
        response = anonymous.get(path)
        assert response.status == 404
        assert response.json["errno"] == 111


def test_api_responses_carry_no_session_cookie(staff, api):
    """A browser logged into the admin still talks to the API as its credentials say."""
    factories.bucket(api)
    api.client = staff  # same cookies as the admin session
    response = api.put("/buckets/shop/collections/orders")
    assert response.status == 201  # no CSRF token needed for Basic auth writes
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert api.get("/", user=None).json.get("user") is None  # the session is not a login


def test_static_files_are_served(db):
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"body" in b"".join(response.streaming_content)


@pytest.mark.parametrize("verbosity", [0])
def test_collectstatic(tmp_path, settings, verbosity):
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", interactive=False, verbosity=verbosity)
    assert (tmp_path / "admin" / "css" / "base.css").exists()


ADMIN_MODELS = [
    "kinto_buckets/bucket",
    "kinto_buckets/collection",
    "kinto_buckets/group",
    "kinto_records/record",
    "kinto_accounts/account",
    "kinto_history/historyentry",
    "kinto_notifications/outboxentry",
]


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_every_list_renders_with_its_filters(staff, api, kinto_settings, model):
    kinto_settings(
        history_enabled=True,
        event_listeners="hook",
        event_listeners_hook_use="webhook",
        event_listeners_hook_url="http://127.0.0.1:9/unreachable",
        event_listeners_hook_secret="hook-secret",
    )
    factories.collection(api)
    factories.group(api)
    factories.record(api, {"a": 1})
    assert staff.get(f"/admin/{model}/", {"q": "a"}).status_code == 200
    listed = staff.get(f"/admin/{model}/").context["cl"].result_list
    if model != "kinto_accounts/account":  # the only list left empty here
        assert staff.get(f"/admin/{model}/{listed[0].pk}/change/").status_code == 200
    writable = "history" not in model and "outbox" not in model
    assert staff.get(f"/admin/{model}/add/").status_code == (200 if writable else 403)


def test_record_list_costs_the_same_for_many_records(staff, api, django_assert_max_num_queries):
    factories.collection(api)
    for index in range(30):
        factories.record(api, {"n": index})
    with django_assert_max_num_queries(12):
        page = staff.get("/admin/kinto_records/record/")
    assert len(page.context["cl"].result_list) == 30


def test_a_site_user_deleted_in_the_admin_loses_its_grants(staff, api):
    """The API's principals are not rows of the user table: the users page lists the site's
    users only, and deleting one there takes its grants away."""
    User = get_user_model()
    bob = User.objects.create_user("bob", password="pw")
    factories.collection(api, permissions={"read": ["django:bob"]})
    assert sorted(User.objects.values_list("username", flat=True)) == ["bob", "staff"]
    assert staff.post(f"/admin/auth/user/{bob.pk}/delete/", {"post": "yes"}).status_code == 302
    acls = api.get("/buckets/shop/collections/orders").json["permissions"]
    assert "django:bob" not in acls.get("read", [])


def test_admin_pages_refuse_to_be_framed(staff):
    """Clickjacking: another site cannot show the admin's forms inside a frame."""
    assert staff.get("/admin/")["X-Frame-Options"] == "DENY"
    assert Client().get("/admin/login/")["X-Frame-Options"] == "DENY"
