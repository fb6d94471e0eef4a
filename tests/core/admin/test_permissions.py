"""ACLs edited in the admin (the `permissions` field, guardian's "Object permissions" pages)
are what the API shows, written like a PATCH of `permissions`: new timestamp, event."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as PrincipalGroup

from kinto_django.buckets.models import Bucket, Collection
from kinto_django.permissions.service import object_permissions
from tests import factories
from tests.core.admin.conftest import admin_url, form_errors


@pytest.fixture
def orders(api):
    factories.collection(api)
    return Collection.objects.get(object_id="orders")


@pytest.fixture
def alice(api):
    return api.get("/").json["user"]["id"]


def edit_permissions(staff, obj, acls):
    return staff.post(
        admin_url(type(obj), "change", obj.pk),
        {
            "data": json.dumps(obj.data),
            "permissions": json.dumps(acls),
            "seen_last_modified": obj.last_modified,
        },
    )


def test_permissions_field_is_what_the_api_shows(staff, api, orders, alice):
    page = staff.get(admin_url(Collection, "change", orders.pk))
    assert json.loads(page.context["adminform"].form["permissions"].value()) == {"write": [alice]}
    acls = {"read": ["system.Authenticated"], "write": [alice], "record:create": ["account:bob"]}
    response = edit_permissions(staff, orders, acls)
    assert response.status_code == 302, form_errors(response)
    shown = api.get("/buckets/shop/collections/orders").json["permissions"]
    assert shown == {**acls, "write": sorted([alice, "django:staff"])}
    # The new ACL works: anybody authenticated now reads the collection.
    assert api.get("/buckets/shop/collections/orders", user="carol").status == 200


@pytest.mark.parametrize(
    ("acls", "message"),
    [
        ({"delete": ["x"]}, "is not one of"),
        ({"read": "system.Everyone"}, "list of principals"),
        ({"read": [""]}, "Required"),
        ({"read": ["x" * 151]}, "longer than"),
    ],
)
def test_bad_permissions_are_form_errors(staff, api, orders, acls, message):
    etag = api.get("/buckets/shop/collections").headers["ETag"]
    errors = form_errors(edit_permissions(staff, orders, acls))
    assert any(message in error for error in errors["permissions"]), errors
    assert api.get("/buckets/shop/collections").headers["ETag"] == etag


def test_guardian_page_lists_the_principals_and_routes_through_the_actions(
    staff, api, orders, alice, kinto_settings
):
    kinto_settings(history_enabled=True)
    page = staff.get(admin_url(Collection, "permissions", orders.pk))
    assert page.status_code == 200
    assert alice in page.content.decode()

    before = api.get("/buckets/shop/collections/orders").data["last_modified"]
    everyone = PrincipalGroup.objects.get_or_create(name="system.Everyone")[0]
    form_page = staff.get(
        admin_url(Collection, "permissions_manage_group", orders.pk, everyone.pk)
    )
    choices = [value for value, _ in form_page.context["form"].fields["permissions"].choices]
    assert choices == ["read", "write", "record:create"]

    response = staff.post(
        admin_url(Collection, "permissions_manage_group", orders.pk, everyone.pk),
        {"permissions": ["read"]},
    )
    assert response.status_code == 302
    fetched = api.get("/buckets/shop/collections/orders")
    assert fetched.json["permissions"]["read"] == ["system.Everyone"]
    assert fetched.data["last_modified"] > before
    assert api.get("/buckets/shop/collections/orders", user=None).status == 200
    [entry] = [e for e in api.get("/buckets/shop/history").data if e["action"] == "update"]
    assert entry["user_id"] == "django:staff"
    assert entry["target"]["permissions"]["read"] == ["system.Everyone"]

    # Taking a user's right away on its page.
    user = get_user_model().objects.get(username=alice)
    response = staff.post(
        admin_url(Collection, "permissions_manage_user", orders.pk, user.pk),
        {"permissions": ["read"]},
    )
    assert response.status_code == 302
    assert object_permissions(Collection.objects.get(pk=orders.pk)) == {
        "read": sorted([alice, "system.Everyone"]),
        "write": ["django:staff"],
    }


def test_guardian_page_refuses_tombstones(staff, api, orders):
    api.delete("/buckets/shop/collections/orders")
    everyone = PrincipalGroup.objects.get_or_create(name="system.Everyone")[0]
    response = staff.post(
        admin_url(Collection, "permissions_manage_group", orders.pk, everyone.pk),
        {"permissions": ["read"]},
    )
    assert response.status_code == 200
    assert "Deleted objects keep no permissions" in response.content.decode()
    assert object_permissions(Collection.objects.get(pk=orders.pk)) == {}


def test_deleting_a_bucket_counts_what_goes_with_it(staff, api, orders):
    factories.record(api, {"a": 1})
    factories.group(api)
    bucket = Bucket.objects.get(object_id="shop")
    confirm = staff.get(admin_url(Bucket, "delete", bucket.pk))
    assert dict(confirm.context["model_count"]) == {
        "buckets": 1,
        "collections": 1,
        "groups": 1,
        "records": 1,
    }
    assert staff.post(admin_url(Bucket, "delete", bucket.pk), {"post": "yes"}).status_code == 302
    assert api.get("/buckets/shop").status == 403
    assert Collection.objects.count() == 0


def test_principal_groups_are_read_only_on_djangos_groups_page(staff, api, orders):
    factories.group(api, "staff", members=["account:bob"])
    principal = PrincipalGroup.objects.get(name="/buckets/shop/groups/staff")
    site_group = PrincipalGroup.objects.create(name="operators")
    url = f"/admin/auth/group/{principal.pk}/change/"
    assert staff.get(url).context["has_change_permission"] is False
    assert staff.post(url, {"name": "renamed"}).status_code == 403
    assert (
        staff.post(f"/admin/auth/group/{principal.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert PrincipalGroup.objects.filter(name="/buckets/shop/groups/staff").exists()
    assert staff.get(f"/admin/auth/group/{site_group.pk}/change/").context["has_change_permission"]
