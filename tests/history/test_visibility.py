"""Who sees which entries (spec/07): bucket readers and writers see all; others the entries
whose read principals, fixed when the entry was written, include one of theirs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories
from tests.history.conftest import entries, summary, user_id

ORDERS = "/buckets/shop/collections/orders"
PUBLIC = "/buckets/shop/collections/public"
SECRET = "/buckets/shop/collections/secret"
SEEN_BY_ALL = [f"{PUBLIC}/records/p1", PUBLIC]


@pytest.fixture
def users(history) -> dict[str, str]:
    return {name: user_id(history, name) for name in ("bob", "carol", "dave", "erin")}


@pytest.fixture
def shared(history, users):
    """Alice's bucket with a collection bob reads, a record carol reads, a public collection
    and a group dave is in (the group reads a record); erin reads the bucket."""
    factories.bucket(history, permissions={"read": [users["erin"]]})
    history.put(ORDERS, {"permissions": {"read": [users["bob"]]}})
    history.put(f"{ORDERS}/records/r1", {"data": {}})
    history.put(SECRET, {})
    history.put(f"{SECRET}/records/s1", {"permissions": {"read": [users["carol"]]}})
    history.put(f"{SECRET}/records/s2", {})
    history.put(PUBLIC, {"permissions": {"read": ["system.Everyone"]}})
    history.put(f"{PUBLIC}/records/p1", {})
    history.put("/buckets/shop/groups/club", {"data": {"members": [users["dave"]]}})
    history.put(f"{SECRET}/records/s3", {"permissions": {"read": ["/buckets/shop/groups/club"]}})
    return history


def visible(api, user) -> list[str]:
    return [entry["uri"] for entry in entries(api, user=user)]


def test_bucket_writers_and_readers_see_everything(shared, users):
    everything = visible(shared, "alice")
    assert len(everything) == 10
    assert visible(shared, "erin") == everything


def test_collection_readers_see_its_entries_and_its_records(shared):
    assert visible(shared, "bob") == [*SEEN_BY_ALL, f"{ORDERS}/records/r1", ORDERS]


def test_record_readers_see_that_record(shared):
    assert visible(shared, "carol") == [*SEEN_BY_ALL, f"{SECRET}/records/s1"]


def test_group_members_see_what_the_group_reads(shared):
    assert visible(shared, "dave") == [f"{SECRET}/records/s3", *SEEN_BY_ALL]


def test_everyone_sees_public_entries(shared):
    assert visible(shared, None) == SEEN_BY_ALL
    assert visible(shared, "someone") == SEEN_BY_ALL


def test_private_bucket_denies_strangers(history):
    factories.collection(history)
    denied = history.get("/buckets/shop/history", user="bob")
    assert denied.status == 403
    assert denied.json["errno"] == 121
    anonymous = history.get("/buckets/shop/history", user=None)
    assert anonymous.status == 401
    assert anonymous.json["errno"] == 104
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")


def test_read_principals_are_those_at_write_time(shared, users):
    # Carol loses her grant: what was written while she had it stays visible to her.
    shared.patch(f"{SECRET}/records/s1", {"data": {"n": 1}, "permissions": {"read": []}})
    assert visible(shared, "carol") == [*SEEN_BY_ALL, f"{SECRET}/records/s1"]
    # Bob is given the bucket: he reads everything, old entries included.
    shared.patch("/buckets/shop", {"permissions": {"read": [users["bob"]]}})
    assert len(visible(shared, "bob")) == 12


def test_deletions_are_visible_to_bucket_and_collection_readers(shared):
    shared.delete(f"{SECRET}/records/s1")
    shared.delete(f"{ORDERS}/records/r1")
    assert visible(shared, "carol") == [*SEEN_BY_ALL, f"{SECRET}/records/s1"]  # not deleted
    assert visible(shared, "bob")[0] == f"{ORDERS}/records/r1"


def test_without_explicit_permissions_only_bucket_readers_see(history, users, kinto_settings):
    kinto_settings(explicit_permissions=False)
    factories.bucket(history, permissions={"write": [users["erin"]]})
    history.put(ORDERS, {"permissions": {"read": [users["bob"]]}}, user="erin")
    assert history.get("/buckets/shop/history", user="bob").status == 403
    assert summary(entries(history, user="erin"))[0] == ("create", ORDERS)


def test_history_principal_settings(shared, kinto_settings):
    kinto_settings(history_read_principals="system.Authenticated")
    assert len(visible(shared, "someone")) == 10
    assert shared.delete("/buckets/shop/history", user="someone").status == 403
    kinto_settings(history_write_principals="system.Authenticated")
    assert shared.delete("/buckets/shop/history", user="someone").status == 200
    assert visible(shared, "alice") == []


def test_only_bucket_writers_delete(shared, users):
    for user in ("bob", "erin", "someone"):
        response = shared.delete("/buckets/shop/history", user=user)
        assert response.status == 403, user
    assert shared.delete("/buckets/shop/history", user=None).status == 401
    shared.patch("/buckets/shop", {"permissions": {"write": [users["erin"]]}})
    deleted = shared.delete("/buckets/shop/history?resource_name=group", user="erin")
    assert deleted.status == 200
    assert len(deleted.data) == 1


def test_head_counts_only_visible_entries(shared):
    response = shared.head("/buckets/shop/history", user="bob")
    assert response.headers["Total-Objects"] == "4"
    response = shared.head("/buckets/shop/history?resource_name=record", user="bob")
    assert response.headers["Total-Objects"] == "2"


def test_pages_of_shared_entries(shared):
    first = shared.get("/buckets/shop/history?_limit=3", user="bob")
    assert [e["uri"] for e in first.data] == [*SEEN_BY_ALL, f"{ORDERS}/records/r1"]
    next_page = first.headers["Next-Page"].split("/v1", 1)[1]
    second = shared.get(next_page, user="bob")
    assert [e["uri"] for e in second.data] == [ORDERS]
    assert "Next-Page" not in second.headers


def test_visibility_is_part_of_the_page_query(shared, django_assert_max_num_queries):
    """Shared entries are chosen by the query of the page: a constant number of queries
    whatever the number of entries, and their principals in that very query."""
    for index in range(30):
        shared.put(f"{SECRET}/records/x{index}", {})
    with CaptureQueriesContext(connection) as captured:
        response = shared.get("/buckets/shop/history", user="bob")
    assert len(response.data) == 4
    page = [q["sql"] for q in captured.captured_queries if "read_principals" in q["sql"]]
    # The existence check (403 when nothing is shared) and the page itself.
    assert len(page) == 2
    assert any('"data"' in sql and "LIMIT" in sql for sql in page)
    count = len(captured.captured_queries)
    with django_assert_max_num_queries(count):
        shared.get("/buckets/shop/history?_limit=5", user="bob")


def test_an_entry_shows_its_targets_acl_only_as_a_get_of_the_target_would(shared, users):
    """`target.permissions` is the object's ACL at write time: shown, as by a GET of the
    object, only to callers listed in its `write` ACL; to other readers of the entry, `{}`."""
    record = f"{SECRET}/records/s1"
    by_alice = {e["uri"]: e for e in entries(shared, user="alice")}
    by_carol = {e["uri"]: e for e in entries(shared, user="carol")}
    by_erin = {e["uri"]: e for e in entries(shared, user="erin")}
    assert by_alice[record]["target"]["permissions"] == {
        "read": [users["carol"]],
        "write": [user_id(shared, "alice")],
    }
    assert shared.get(record, user="carol").json["permissions"] == {}
    assert by_carol[record]["target"]["permissions"] == {}
    assert by_erin[record]["target"]["permissions"] == {}
    # The rest of the entry is what it was.
    assert by_carol[record]["target"]["data"] == by_alice[record]["target"]["data"]
    # Also for a page rendered field by field (`_fields`) and through a batch.
    narrowed = entries(shared, query="_fields=target", user="erin")
    assert {json_text(e["target"].get("permissions")) for e in narrowed} == {"{}"}


def json_text(value) -> str:
    import json

    return json.dumps(value)


def test_a_later_account_of_the_same_name_inherits_no_entry(history, kinto_settings):
    """Entries remember who could read them as names: when `bob` deletes his account, the
    entries shared with him forget him, so whoever signs up as `bob` later reads none."""
    kinto_settings(auth_policies="account basicauth", account_create_principals="system.Everyone")
    assert history.put("/accounts/bob", {"data": {"password": "one"}}, user=None).status == 201
    factories.bucket(history)
    history.put(ORDERS, {})
    history.put(
        f"{ORDERS}/records/payslip",
        {"data": {"salary": "SECRET"}, "permissions": {"read": ["account:bob"]}},
    )
    first_bob = ("bob", "one")
    assert visible(history, first_bob) == [f"{ORDERS}/records/payslip"]
    assert history.delete("/accounts/bob", user=first_bob).status == 200
    assert history.put("/accounts/bob", {"data": {"password": "two"}}, user=None).status == 201
    later_bob = ("bob", "two")
    assert history.get("/buckets/shop/history", user=later_bob).status == 403
    # The entry itself is still there, for the bucket's readers.
    assert f"{ORDERS}/records/payslip" in visible(history, "alice")
