"""ACLs edited in the admin (the `permissions` field, guardian's "Object permissions" pages)
are what the API shows, written like a PATCH of `permissions`: new timestamp, event."""

from __future__ import annotations

import json

import pytest

from kinto_django.buckets.models import Bucket, Collection
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
        ({"read": ["x" * 301]}, "longer than"),
    ],
)
def test_bad_permissions_are_form_errors(staff, api, orders, acls, message):
    etag = api.get("/buckets/shop/collections").headers["ETag"]
    errors = form_errors(edit_permissions(staff, orders, acls))
    assert any(message in error for error in errors["permissions"]), errors
    assert api.get("/buckets/shop/collections").headers["ETag"] == etag


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


def test_grants_and_memberships_are_listed_read_only(staff, api, orders):
    """ACL entries and memberships are browsable and searchable by principal; they change only
    through the objects (`permissions`, `members`), which keep timestamps and events right."""
    factories.group(api, "staff", members=["account:bob"])
    api.patch("/buckets/shop/collections/orders", {"permissions": {"read": ["account:bob"]}})
    grants = staff.get("/admin/kinto_permissions/grant/", {"q": "account:bob"})
    assert grants.status_code == 200
    [grant] = grants.context["cl"].result_list
    assert (grant.principal, grant.permission.codename) == ("account:bob", "read")
    change = f"/admin/kinto_permissions/grant/{grant.pk}/change/"
    assert staff.get(change).context["has_change_permission"] is False
    assert staff.post(f"/admin/kinto_permissions/grant/{grant.pk}/delete/").status_code == 403
    members = staff.get("/admin/kinto_permissions/membership/", {"q": "account:bob"})
    [membership] = members.context["cl"].result_list
    assert membership.group_uri == "/buckets/shop/groups/staff"
    assert staff.get("/admin/kinto_permissions/grant/add/").status_code == 403
