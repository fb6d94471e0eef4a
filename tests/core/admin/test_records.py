"""Records edited in the admin are API writes: new timestamps, `_since` syncs, events,
schemas; refusals are form errors; tombstones cannot be edited."""

from __future__ import annotations

import json

import pytest

from kinto_django.core.signals import resource_changed
from kinto_django.permissions.service import object_permissions
from kinto_django.records.models import Record
from tests import factories
from tests.core.admin.conftest import admin_url, form_errors

RECORDS = factories.RECORDS


@pytest.fixture
def lamp(api):
    factories.collection(api)
    return factories.record(api, {"item": "lamp", "note": "café au lait"}, record_id="lamp")


def row(record_id: str = "lamp") -> Record:
    return Record.objects.get(object_id=record_id)


def change(staff, data, permissions=None, record_id="lamp", **extra):
    obj = row(record_id)
    form = {
        "data": data if isinstance(data, str) else json.dumps(data),
        # What the form shows, as a browser sends it back.
        "permissions": json.dumps(
            permissions if permissions is not None else object_permissions(obj)
        ),
        "seen_last_modified": obj.last_modified,
        "_save": "Save",
        **extra,
    }
    return staff.post(admin_url(Record, "change", obj.pk), form)


def test_list_shows_id_parent_and_readable_date(staff, lamp):
    page = staff.get(admin_url(Record, "changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "lamp" in text
    assert "/buckets/shop/collections/orders" in text
    assert " UTC" in text


def test_search_by_id_and_inside_the_json(staff, api, lamp):
    factories.record(api, {"item": "desk"}, record_id="desk")
    url = admin_url(Record, "changelist")

    def found(term):
        return {obj.object_id for obj in staff.get(url, {"q": term}).context["cl"].result_list}

    assert found("lam") == {"lamp"}
    assert found("desk") == {"desk"}
    assert found("LAMP") == {"lamp"}
    assert found("café") == {"lamp"}
    assert found("item") == {"lamp", "desk"}
    assert found("nowhere") == set()


def test_filter_by_collection_and_tombstones(staff, api, lamp):
    factories.collection(api, collection_id="other", create_bucket=False)
    factories.record(api, {"item": "elsewhere"}, collection_id="other", record_id="far")
    api.delete(f"{RECORDS}/lamp")
    url = admin_url(Record, "changelist")
    orders = Record.objects.get(object_id="lamp").collection.pk

    def listed(**params):
        return {obj.object_id for obj in staff.get(url, params).context["cl"].result_list}

    assert listed() == {"far"}  # tombstones are left out by default
    assert listed(state="deleted") == {"lamp"}
    assert listed(state="all") == {"lamp", "far"}
    assert listed(state="all", collection=orders) == {"lamp"}


def test_edit_bumps_timestamp_syncs_and_records_history(staff, api, lamp, kinto_settings):
    kinto_settings(history_enabled=True)
    etag = api.get(RECORDS).headers["ETag"].strip('"')

    response = change(staff, {"item": "lamp", "qty": 3})

    assert response.status_code == 302, form_errors(response)
    fetched = api.get(f"{RECORDS}/lamp")
    assert fetched.data == {"item": "lamp", "qty": 3, "id": "lamp", "last_modified": ANY_INT}
    assert fetched.data["last_modified"] > lamp["last_modified"]
    synced = api.get(f"{RECORDS}?_since={etag}").data
    assert [(r["id"], r["qty"]) for r in synced] == [("lamp", 3)]
    history = api.get("/buckets/shop/history").data
    assert history[0]["action"] == "update"
    assert history[0]["user_id"] == "django:staff"
    assert history[0]["target"]["data"]["qty"] == 3
    # explicit_permissions: the operator's principal joins `write`, like any writer's.
    assert "django:staff" in fetched.json["permissions"]["write"]


class AnyInt:
    def __eq__(self, other):
        return isinstance(other, int)


ANY_INT = AnyInt()


def test_edit_sends_the_change_event(staff, lamp, django_capture_on_commit_callbacks):
    events = []

    def receive(sender, payload, impacted_objects, **kwargs):
        events.append((payload, impacted_objects))

    resource_changed.connect(receive)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = change(staff, {"item": "bulb"})
    finally:
        resource_changed.disconnect(receive)
    assert response.status_code == 302
    [(payload, impacted)] = events
    assert payload["action"] == "update"
    assert payload["uri"] == "/buckets/shop/collections/orders/records/lamp"
    assert payload["user_id"] == "django:staff"
    assert impacted[0]["old"]["item"] == "lamp"
    assert impacted[0]["new"]["item"] == "bulb"


def test_change_form_shows_indented_json_in_stored_key_order(staff, lamp):
    page = staff.get(admin_url(Record, "change", row().pk))
    textarea = page.context["adminform"].form["data"].value()
    assert json.loads(textarea) == {"item": "lamp", "note": "café au lait"}
    assert '\n  "item": "lamp"' in textarea
    assert "café" in textarea


def test_create_through_the_admin(staff, api, lamp):
    collection = row().collection
    alice = api.get("/").json["user"]["id"]
    response = staff.post(
        admin_url(Record, "add"),
        {
            "object_id": "desk",
            "collection": collection.pk,
            "data": '{"item": "desk"}',
            "permissions": json.dumps({"read": ["system.Everyone"], "write": [alice]}),
            "_save": "Save",
        },
    )
    assert response.status_code == 302, form_errors(response)
    created = api.get(f"{RECORDS}/desk")
    assert created.data["item"] == "desk"
    assert created.json["permissions"] == {
        "read": ["system.Everyone"],
        "write": sorted([alice, "django:staff"]),
    }
    assert created.data["last_modified"] > lamp["last_modified"]
    assert api.get(f"{RECORDS}/desk", user=None).status == 200


def test_create_without_id_generates_one(staff, api, lamp):
    response = staff.post(
        admin_url(Record, "add"),
        {"collection": row().collection.pk, "data": '{"item": "x"}', "_save": "Save"},
    )
    assert response.status_code == 302, form_errors(response)
    assert [r["item"] for r in api.get(RECORDS).data] == ["x", "lamp"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"item": ', "Invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"id": "other"}', "set by the server"),
        ('{"a": "\\u0000"}', "Invalid character"),
    ],
)
def test_bad_json_is_a_form_error(staff, api, lamp, text, message):
    response = change(staff, text)
    errors = form_errors(response)
    assert any(message in error for error in errors["data"]), errors
    assert api.get(f"{RECORDS}/lamp").data["last_modified"] == lamp["last_modified"]


def test_schema_failure_is_a_form_error_and_writes_nothing(staff, api, lamp, kinto_settings):
    kinto_settings(experimental_collection_schema_validation=True)
    schema = {"type": "object", "properties": {"qty": {"type": "integer"}}}
    api.patch("/buckets/shop/collections/orders", {"data": {"schema": schema}})
    etag = api.get(RECORDS).headers["ETag"]

    errors = form_errors(change(staff, {"item": "lamp", "qty": "many"}))

    assert any("qty" in error for error in errors["data"]), errors
    assert api.get(RECORDS).headers["ETag"] == etag
    assert change(staff, {"item": "lamp", "qty": 2}).status_code == 302
    assert api.get(f"{RECORDS}/lamp").data["schema"] > 0


def test_invalid_or_taken_id_is_a_form_error(staff, lamp):
    collection = row().collection.pk
    url = admin_url(Record, "add")
    for object_id, message in [("no spaces", "Invalid object id"), ("lamp", "already exists")]:
        form = {"object_id": object_id, "collection": collection, "data": "{}", "_save": "Save"}
        errors = form_errors(staff.post(url, form))
        assert any(message in error for error in errors["object_id"]), errors
    assert Record.objects.count() == 1


def test_edit_of_a_stale_version_is_refused(staff, api, lamp):
    seen = row().last_modified
    api.patch(f"{RECORDS}/lamp", {"data": {"item": "changed by a client"}})
    obj = row()
    response = staff.post(
        admin_url(Record, "change", obj.pk),
        {"data": '{"item": "mine"}', "permissions": "{}", "seen_last_modified": seen},
    )
    assert "modified meanwhile" in form_errors(response)["__all__"][0]
    assert api.get(f"{RECORDS}/lamp").data["item"] == "changed by a client"


def test_delete_leaves_a_tombstone_that_syncs(staff, api, lamp):
    etag = api.get(RECORDS).headers["ETag"].strip('"')
    response = staff.post(admin_url(Record, "delete", row().pk), {"post": "yes"})
    assert response.status_code == 302
    assert api.get(f"{RECORDS}/lamp").status == 404
    [tombstone] = api.get(f"{RECORDS}?_since={etag}").data
    assert tombstone["id"] == "lamp" and tombstone["deleted"] is True


def test_bulk_delete_is_a_list_deletion(staff, api, lamp, kinto_settings):
    kinto_settings(history_enabled=True)
    factories.record(api, {"item": "desk"}, record_id="desk")
    pks = list(Record.objects.values_list("pk", flat=True))
    confirm = staff.post(
        admin_url(Record, "changelist"), {"action": "delete_selected", "_selected_action": pks}
    )
    assert confirm.status_code == 200
    assert dict(confirm.context["model_count"]) == {"records": 2}
    response = staff.post(
        admin_url(Record, "changelist"),
        {"action": "delete_selected", "_selected_action": pks, "post": "yes"},
    )
    assert response.status_code == 302
    assert api.get(RECORDS).data == []
    deletions = [e for e in api.get("/buckets/shop/history").data if e["action"] == "delete"]
    assert {e["record_id"] for e in deletions} == {"lamp", "desk"}


def test_tombstones_are_read_only(staff, api, lamp):
    api.delete(f"{RECORDS}/lamp")
    url = admin_url(Record, "change", row().pk)
    page = staff.get(url)
    assert page.status_code == 200
    assert "deleted" in page.content.decode()
    assert not page.context["has_change_permission"]
    assert 'name="_save"' not in page.content.decode()
    assert staff.post(url, {"data": '{"item": "back"}', "permissions": "{}"}).status_code == 403
    assert staff.post(admin_url(Record, "delete", row().pk), {"post": "yes"}).status_code == 403
    assert api.get(f"{RECORDS}/lamp").status == 404
