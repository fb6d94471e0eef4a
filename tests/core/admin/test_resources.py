"""Every resource type is created and edited in the admin as through the API."""

from __future__ import annotations

import json

import pytest

from kinto_django.buckets.models import Bucket, Collection, Group
from kinto_django.records.models import Record
from tests import factories
from tests.core.admin.conftest import admin_url, form_errors

# (model, parent model, API path of the new object, data)
CASES = [
    (Bucket, None, "/buckets/blog", {"title": "Blog"}),
    (Collection, Bucket, "/buckets/shop/collections/posts", {"title": "Posts"}),
    (Group, Bucket, "/buckets/shop/groups/editors", {"members": ["account:bob"]}),
    (Record, Collection, "/buckets/shop/collections/orders/records/r1", {"title": "R"}),
]


@pytest.mark.parametrize(("model", "parent_model", "path", "data"), CASES)
def test_create_and_edit(staff, api, kinto_settings, model, parent_model, path, data):
    kinto_settings(history_enabled=True)
    factories.collection(api)
    alice = api.get("/").json["user"]["id"]
    form = {
        "object_id": path.rsplit("/", 1)[1],
        "data": json.dumps(data),
        "permissions": json.dumps({"write": [alice]}),
    }
    if parent_model is not None:
        parent = parent_model.objects.get(
            object_id="orders" if parent_model is Collection else "shop"
        )
        form[model.parent_field] = parent.pk
    response = staff.post(admin_url(model, "add"), form)
    assert response.status_code == 302, form_errors(response)
    created = api.get(path)
    assert created.status == 200
    assert {k: created.data[k] for k in data} == data

    obj = model.objects.get(object_id=form["object_id"], deleted=False)
    response = staff.post(
        admin_url(model, "change", obj.pk),
        {
            "data": json.dumps({**data, "extra": 1}),
            "permissions": json.dumps({"write": [alice]}),
            "seen_last_modified": obj.last_modified,
        },
    )
    assert response.status_code == 302, form_errors(response)
    edited = api.get(path)
    assert edited.data["extra"] == 1
    assert edited.data["last_modified"] > created.data["last_modified"]
    history_bucket = "blog" if model is Bucket else "shop"
    actions = [
        (e["action"], e["uri"]) for e in api.get(f"/buckets/{history_bucket}/history").data
    ][:2]
    assert actions == [("update", path), ("create", path)]


def test_group_members_edited_in_the_admin_grant_access(staff, api):
    factories.bucket(api)
    factories.group(api, "readers")
    api.patch("/buckets/shop", {"permissions": {"read": ["/buckets/shop/groups/readers"]}})
    bob = api.get("/", user="bob").json["user"]["id"]
    assert api.get("/buckets/shop", user="bob").status == 403
    group = Group.objects.get(object_id="readers")
    response = staff.post(
        admin_url(Group, "change", group.pk),
        {
            "data": json.dumps({"members": [bob]}),
            "permissions": "{}",
            "seen_last_modified": group.last_modified,
        },
    )
    assert response.status_code == 302, form_errors(response)
    assert api.get("/buckets/shop", user="bob").status == 200


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (Group, {"members": "bob"}, "is not iterable"),
        (Group, {"members": ["system.Everyone"]}, "not a valid user ID"),
        (Collection, {"schema": {"type": "bogus"}}, "is not valid"),
        (Bucket, {"record:schema": []}, "mapping"),
    ],
)
def test_type_validation_is_a_form_error(staff, api, model, data, message):
    factories.collection(api)
    factories.group(api)
    obj = model.objects.get(
        object_id={Group: "staff", Collection: "orders", Bucket: "shop"}[model]
    )
    response = staff.post(
        admin_url(model, "change", obj.pk),
        {"data": json.dumps(data), "permissions": "{}", "seen_last_modified": obj.last_modified},
    )
    errors = form_errors(response)
    assert any(message in error for error in errors["data"]), errors
    assert model.objects.get(pk=obj.pk).last_modified == obj.last_modified
