"""What the history records (spec/07): one entry per changed object, shaped as the reference
server's, written in the transaction of the change; nothing for cascades and exclusions."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.conftest import Api
from tests.history.conftest import entries, summary, user_id

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


# --- switching it on ------------------------------------------------------------------------


def test_off_by_default(api):
    factories.bucket(api)
    assert "history" not in api.get("/").json["capabilities"]
    response = api.get("/buckets/shop/history")
    assert response.status == 404
    assert response.json["errno"] == 111
    assert api.get("/buckets/shop/snapshot/collections/c@1").status == 404


@pytest.mark.parametrize(
    "setting",
    [
        {"history_enabled": True},
        {"includes": "kinto.plugins.default_bucket kinto.plugins.history"},
    ],
)
def test_enabled_by_its_setting_or_includes(api, kinto_settings, setting):
    kinto_settings(**setting)
    capability = api.get("/").json["capabilities"]["history"]
    assert capability == {
        "description": "Track changes on data.",
        "url": "http://kinto.readthedocs.io/en/latest/api/1.x/history.html",
    }
    factories.bucket(api)
    assert summary(entries(api)) == [("create", "/buckets/shop")]


def test_writes_while_off_are_not_recorded(api, kinto_settings):
    factories.collection(api)
    kinto_settings(history_enabled=True)
    factories.record(api, {"n": 1}, record_id="r1")
    assert summary(entries(api)) == [("create", "/buckets/shop/collections/orders/records/r1")]


# --- entry shapes ---------------------------------------------------------------------------


def test_bucket_collection_group_and_record_entries(history):
    alice = user_id(history)
    history.put("/buckets/shop", {"permissions": {"read": ["account:bob"]}})
    history.put("/buckets/shop/collections/orders", {"data": {"kind": "x"}})
    history.put("/buckets/shop/groups/staff", {"data": {"members": ["account:bob"]}})
    record = factories.record(history, {"qty": 5}, record_id="r1")
    bucket, collection, group, created = reversed(entries(history))

    assert set(bucket) == {
        "id",
        "last_modified",
        "action",
        "resource_name",
        "uri",
        "bucket_id",
        "user_id",
        "date",
        "target",
    }
    assert bucket["action"] == "create"
    assert bucket["resource_name"] == "bucket"
    assert bucket["uri"] == "/buckets/shop"
    assert bucket["bucket_id"] == "shop"
    assert bucket["user_id"] == alice
    assert DATE.fullmatch(bucket["date"])
    assert UUID.fullmatch(bucket["id"])
    assert bucket["target"]["permissions"] == {"read": ["account:bob"], "write": [alice]}
    assert bucket["target"]["data"] == history.get("/buckets/shop").data

    assert {k: collection[k] for k in ("resource_name", "uri", "collection_id")} == {
        "resource_name": "collection",
        "uri": "/buckets/shop/collections/orders",
        "collection_id": "orders",
    }
    assert "bucket_id" not in collection
    assert collection["target"]["data"]["kind"] == "x"

    assert {k: group[k] for k in ("resource_name", "uri", "group_id")} == {
        "resource_name": "group",
        "uri": "/buckets/shop/groups/staff",
        "group_id": "staff",
    }
    assert group["target"]["data"]["members"] == ["account:bob"]

    assert set(created) - {"collection_id", "record_id"} == set(bucket) - {"bucket_id"}
    assert created["collection_id"] == "orders"
    assert created["record_id"] == "r1"
    assert created["uri"] == "/buckets/shop/collections/orders/records/r1"
    assert created["target"] == {"data": record, "permissions": {"write": [alice]}}


def test_update_and_delete_entries(history):
    factories.collection(history)
    factories.record(history, {"qty": 1}, record_id="r1")
    updated = history.patch(factories.RECORDS + "/r1", {"data": {"qty": 2}}).data
    tombstone = history.delete(factories.RECORDS + "/r1").data
    delete, update = entries(
        history, query="resource_name=record&action=update,delete".replace("action=", "in_action=")
    )
    assert update["action"] == "update"
    assert update["target"]["data"] == updated
    assert delete["action"] == "delete"
    # The tombstone, and no ACL left.
    assert delete["target"] == {"data": tombstone, "permissions": {}}


def test_entry_timestamps_are_their_own_and_increase(history):
    factories.collection(history)
    factories.record(history, record_id="r1")
    items = entries(history)
    timestamps = [entry["last_modified"] for entry in items]
    assert timestamps == sorted(timestamps, reverse=True)
    assert len(set(timestamps)) == len(timestamps)
    etag = history.get("/buckets/shop/history").headers["ETag"]
    assert etag == f'"{timestamps[0]}"'


def test_acl_only_change_is_an_update(history):
    factories.bucket(history)
    history.patch("/buckets/shop", {"permissions": {"read": ["system.Everyone"]}})
    update = entries(history)[0]
    assert update["action"] == "update"
    assert update["target"]["permissions"]["read"] == ["system.Everyone"]


def test_group_member_changes(history):
    factories.bucket(history)
    factories.group(history, members=["account:bob"])
    history.patch("/buckets/shop/groups/staff", {"data": {"members": ["account:carol"]}})
    update = entries(history)[0]
    assert (update["action"], update["group_id"]) == ("update", "staff")
    assert update["target"]["data"]["members"] == ["account:carol"]


def test_account_deletion_records_the_group_update(history, kinto_settings):
    kinto_settings(
        auth_policies="account basicauth",
        account_create_principals="system.Everyone",
    )
    assert history.put("/accounts/bob", {"data": {"password": "secret-bob"}}, user=None).status
    factories.bucket(history)
    factories.group(history, members=["account:bob", "account:carol"])
    bob = Api(history.client, user=("bob", "secret-bob"))
    assert bob.delete("/accounts/bob").status == 200
    update = entries(history)[0]
    assert update["action"] == "update"
    assert update["target"]["data"]["members"] == ["account:carol"]
    assert update["user_id"] == "account:bob"


def test_anonymous_writer_is_null(history):
    factories.collection(history, permissions={"record:create": ["system.Everyone"]})
    created = history.post(factories.RECORDS, {"data": {"n": 1}}, user=None)
    assert created.status == 201
    assert entries(history)[0]["user_id"] is None


def test_list_deletion_writes_one_entry_per_object(history):
    factories.collection(history)
    for index in range(3):
        factories.record(history, record_id=f"r{index}")
    deleted = history.delete(factories.RECORDS).data
    items = entries(history, query="action=delete")
    assert sorted(e["record_id"] for e in items) == ["r0", "r1", "r2"]
    assert {e["uri"] for e in items} == {f"{factories.RECORDS}/r{i}" for i in range(3)}
    assert sorted((e["target"]["data"] for e in items), key=lambda d: d["id"]) == sorted(
        deleted, key=lambda d: d["id"]
    )


def test_default_bucket_creations_use_the_real_ids(history, kinto_settings):
    kinto_settings(default_bucket_enabled=True)
    history.put("/buckets/default/collections/tasks/records/t1", {"data": {"x": 1}})
    bucket_id = history.get("/").json["user"]["bucket"]
    items = entries(history, bucket_id)
    assert summary(items) == [
        ("create", f"/buckets/{bucket_id}/collections/tasks/records/t1"),
        ("create", f"/buckets/{bucket_id}/collections/tasks"),
        ("create", f"/buckets/{bucket_id}"),
    ]
    assert items[2]["bucket_id"] == bucket_id
    # The alias works for the history too.
    assert entries(history, "default") == items


def test_failed_default_bucket_request_leaves_no_entry(history, kinto_settings):
    kinto_settings(default_bucket_enabled=True)
    failed = history.put("/buckets/default/collections/tasks/records/t1", {"data": []})
    assert failed.status == 400
    bucket_id = history.get("/").json["user"]["bucket"]
    assert summary(entries(history, "default")) == [("create", f"/buckets/{bucket_id}")]


# --- transactions ---------------------------------------------------------------------------


def test_failed_batch_sub_request_leaves_no_entry(history, kinto_settings):
    """The implicit creations of a failed sub-request through `/buckets/default` are rolled
    back to its savepoint, their entries with them; the other sub-requests keep theirs."""
    kinto_settings(default_bucket_enabled=True)
    factories.collection(history)
    response = history.post(
        "/batch",
        {
            "requests": [
                {"method": "PUT", "path": factories.RECORDS + "/ok", "body": {"data": {}}},
                {
                    "method": "PUT",
                    "path": "/buckets/default/collections/tasks/records/t1",
                    "body": {"data": []},
                },
                {"method": "PATCH", "path": "/buckets/shop", "body": {"data": {"x": 1}}},
            ]
        },
    )
    assert [r["status"] for r in response.json["responses"]] == [201, 400, 200]
    assert summary(entries(history))[:2] == [
        ("update", "/buckets/shop"),
        ("create", factories.RECORDS + "/ok"),
    ]
    personal = history.get("/").json["user"]["bucket"]
    assert history.get(f"/buckets/{personal}/history").status == 403


# --- cascades -------------------------------------------------------------------------------


def test_children_of_a_deleted_collection_are_not_recorded(history):
    factories.collection(history)
    factories.record(history, record_id="r1")
    history.delete(factories.COLLECTION)
    assert summary(entries(history)) == [
        ("delete", factories.COLLECTION),
        ("create", factories.RECORDS + "/r1"),
        ("create", factories.COLLECTION),
        ("create", "/buckets/shop"),
    ]


@pytest.mark.parametrize("path", ["/buckets/shop", "/buckets"])
def test_entries_disappear_with_their_bucket(history, path):
    factories.collection(history)
    factories.record(history, record_id="r1")
    factories.bucket(history, "other")
    assert history.delete(path).status == 200
    factories.bucket(history)
    assert summary(entries(history)) == [("create", "/buckets/shop")]
    if path == "/buckets/shop":
        assert summary(entries(history, "other")) == [("create", "/buckets/other")]


# --- not recorded ---------------------------------------------------------------------------


def test_excluded_user_ids(history, kinto_settings):
    factories.collection(history)
    kinto_settings(history_exclude_user_ids=f"someone {user_id(history)}")
    factories.record(history, record_id="r1")
    history.put("/buckets/shop/collections/orders", {"permissions": {"write": ["basicauth:bob"]}})
    assert [e["resource_name"] for e in entries(history)] == ["collection", "bucket"]


WRITTEN = [
    "/buckets/shop",
    "/buckets/shop/collections/orders",
    "/buckets/shop/collections/other",
    "/buckets/shop/collections/other/records/r1",
    "/buckets/shop/collections/orders/records/r1",
    "/buckets/shop/collections/orders/records/r2",
    "/buckets/shop/groups/staff",
]


@pytest.mark.parametrize(
    ("excluded", "skipped"),
    [
        ("/buckets/shop", WRITTEN),
        ("/buckets/shop/collections/orders", [WRITTEN[1], WRITTEN[4], WRITTEN[5]]),
        ("/buckets/shop/collections/orders/records/r1", [WRITTEN[4]]),
        ("/buckets/shop/groups/staff", [WRITTEN[6]]),
        ("/buckets/elsewhere /buckets/shop/collections/other/records/r1", [WRITTEN[3]]),
    ],
)
def test_excluded_resources(history, kinto_settings, excluded, skipped):
    kinto_settings(history_exclude_resources=excluded)
    factories.bucket(history)
    factories.collection(history, create_bucket=False)
    factories.collection(history, collection_id="other", create_bucket=False)
    factories.record(history, record_id="r1", collection_id="other")
    factories.record(history, record_id="r1")
    factories.record(history, record_id="r2")
    factories.group(history)
    recorded = [uri for uri in WRITTEN if uri not in skipped]
    assert [entry["uri"] for entry in entries(history)] == recorded[::-1]
