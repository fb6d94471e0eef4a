"""`GET`/`HEAD`/`DELETE /buckets/{bid}/history`: the list semantics of spec/03 on entries,
restricted to the fields an entry declares (spec/07)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from tests import factories
from tests.history.conftest import entries, summary, user_id

ORDERS = "/buckets/shop/collections/orders"
ONE = "/buckets/shop/collections/1"


@pytest.fixture
def tree(history):
    """Eight entries, newest last here (the list is newest first)."""
    factories.bucket(history)  # 0
    factories.collection(history, create_bucket=False)  # 1
    factories.collection(history, collection_id="1", create_bucket=False)  # 2
    factories.record(history, {"qty": 1, "tags": ["a", "b"]}, record_id="r1")  # 3
    factories.record(history, {"qty": 7, "name": "Lamp"}, collection_id="1", record_id="2")  # 4
    history.patch(f"{ORDERS}/records/r1", {"data": {"qty": 2}})  # 5
    factories.group(history, members=["account:bob"])  # 6
    history.delete(f"{ORDERS}/records/r1")  # 7
    return history


def uris(api, query: str = "", **kwargs) -> list[tuple[str, str]]:
    return summary(entries(api, query=query, **kwargs))


ALL = [
    ("delete", f"{ORDERS}/records/r1"),
    ("create", "/buckets/shop/groups/staff"),
    ("update", f"{ORDERS}/records/r1"),
    ("create", f"{ONE}/records/2"),
    ("create", f"{ORDERS}/records/r1"),
    ("create", ONE),
    ("create", ORDERS),
    ("create", "/buckets/shop"),
]


def pick(*indexes: int) -> list[tuple[str, str]]:
    return [ALL[i] for i in indexes]


def test_newest_first_by_default(tree):
    assert uris(tree) == ALL


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=update", pick(2)),
        ("not_action=create", pick(0, 2)),
        ("in_action=update,delete", pick(0, 2)),
        ("exclude_action=create", pick(0, 2)),
        ("resource_name=record", pick(0, 2, 3, 4)),
        ("resource_name=group", pick(1)),
        (f"uri={ORDERS}", pick(6)),
        ("like_uri=records", pick(0, 2, 3, 4)),
        ("like_uri=*/groups/*", pick(1)),
        ("bucket_id=shop", pick(7)),
        ("collection_id=orders", pick(0, 2, 4, 6)),
        ("record_id=r1", pick(0, 2, 4)),
        ("group_id=staff", pick(1)),
        ("has_record_id=true", pick(0, 2, 3, 4)),
        ("has_record_id=false", pick(1, 5, 6, 7)),
        ("target.data.qty=2", pick(2)),
        ("min_target.data.qty=2", pick(0, 1, 2, 3, 5, 6, 7)),  # missing counts as greater
        ("resource_name=record&min_target.data.qty=2", pick(0, 2, 3)),
        ("lt_target.data.qty=7", pick(2, 4)),
        ("target.data.name=Lamp", pick(3)),
        ("contains_target.data.tags=a", pick(2, 4)),  # PATCH kept the tags
        ("target.data.deleted=true", pick(0)),
        ("has_target.permissions.write=false", pick(0)),
        ("like_target.data.name=lam", pick(3)),
        ("resource_name=record&collection_id=orders", pick(0, 2, 4)),
        ("like_date=T", ALL),
        ("date=2000-01-01", []),
    ],
)
def test_filters_on_declared_fields(tree, query, expected):
    assert uris(tree, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Numbers on id fields are their text: collection "1", record "2".
        ("collection_id=1", pick(3, 5)),
        ("record_id=2", pick(3)),
        ('record_id="2"', pick(3)),
        ("in_record_id=2,9", pick(3)),
        ("in_collection_id=1,orders", pick(0, 2, 3, 4, 5, 6)),
        ("exclude_collection_id=1", pick(0, 1, 2, 4, 6, 7)),
        ("not_record_id=2", pick(0, 1, 2, 4, 5, 6, 7)),
        ("like_collection_id=1", pick(3, 5)),
        ("gt_collection_id=0&lt_collection_id=2", pick(3, 5)),
    ],
)
def test_numeric_values_on_id_fields_are_strings(tree, query, expected):
    assert uris(tree, query) == expected


def test_user_id_filter(tree):
    alice = user_id(tree)
    assert uris(tree, f"user_id={quote(alice)}") == ALL
    assert uris(tree, "user_id=basicauth:someone") == []
    assert uris(tree, "user_id=42") == []


def test_since_and_before(tree):
    items = entries(tree)
    middle = items[3]["last_modified"]
    assert uris(tree, f"_since={middle}") == pick(0, 1, 2)
    assert uris(tree, f"_before={middle}") == pick(4, 5, 6, 7)
    assert uris(tree, f"gt_last_modified={middle}") == pick(0, 1, 2)
    assert uris(tree, f"id={items[3]['id']}") == pick(3)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("foo=1", "Unknown filter field 'foo'"),
        ("not_foo=1", "Unknown filter field 'not_foo'"),
        ("data.qty=1", "Unknown filter field 'data.qty'"),
        ("_sort=foo", "querystring: Unknown sort field 'foo'"),
        ("_sort=-data.x", "querystring: Unknown sort field 'data.x'"),
        ("_fields=uri,foo", "Invalid _fields parameter in body: Fields foo do not exist"),
        ("_since=abc", '_since in querystring: "abc" is not a number'),
        ("_limit=x", '_limit in querystring: "x" is not a number'),
        ("like_action=1", "Invalid value for like_action"),
        ("_token=xyz", "querystring: _token has invalid content"),
    ],
)
def test_bad_queries_are_400(tree, query, message):
    response = tree.get(f"/buckets/shop/history?{query}")
    assert response.status == 400
    assert response.json["errno"] == 107
    assert response.json["message"] == message


def test_sort(tree):
    assert uris(tree, "_sort=last_modified") == ALL[::-1]
    by_uri = uris(tree, "_sort=uri,-last_modified")
    assert by_uri == sorted(ALL, key=lambda item: item[1])  # ties: newest first
    by_qty = uris(tree, "_sort=-target.data.qty&resource_name=record")
    assert by_qty == pick(0, 3, 2, 4)  # the tombstone has no qty: first when descending


def test_fields(tree):
    items = entries(tree, query="_fields=uri,target.data.qty&resource_name=record")
    assert items[1] == {
        "uri": f"{ORDERS}/records/r1",
        "target": {"data": {"qty": 2}},
        "id": items[1]["id"],
        "last_modified": items[1]["last_modified"],
    }


def test_pagination_follows_next_page(tree):
    seen = []
    url = "/buckets/shop/history?_limit=3&resource_name=record&_sort=-last_modified"
    pages = 0
    while url:
        response = tree.get(url)
        assert response.status == 200
        seen += summary(response.data)
        next_page = response.headers.get("Next-Page")
        url = None
        if next_page:
            parts = urlsplit(next_page)
            assert "resource_name=record" in parts.query
            url = f"{parts.path}?{parts.query}"
        pages += 1
    assert pages == 2
    assert seen == pick(0, 2, 3, 4)


def test_head_counts_and_etag(tree):
    response = tree.head("/buckets/shop/history?resource_name=record")
    assert response.status == 200
    assert response.content == b""
    assert response.headers["Total-Objects"] == response.headers["Total-Records"] == "4"
    etag = response.headers["ETag"]
    assert etag == f'"{entries(tree)[0]["last_modified"]}"'
    not_modified = tree.get("/buckets/shop/history", headers={"If-None-Match": etag})
    assert not_modified.status == 304
    factories.record(tree, record_id="r9")
    changed = tree.get("/buckets/shop/history", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag


def test_no_object_endpoint_and_other_methods(tree):
    one = entries(tree)[0]["id"]
    for method in ("GET", "DELETE", "PUT", "PATCH"):
        response = tree.request(method, f"/buckets/shop/history/{one}")
        assert response.status == 404
        assert response.json["errno"] == 111
    for method in ("POST", "PUT", "PATCH"):
        response = tree.request(method, "/buckets/shop/history", {"data": {}})
        assert response.status == 405
        assert response.json["errno"] == 115
        assert response.headers["Allow"] == "GET, HEAD, DELETE, OPTIONS"


def test_cors_preflight(tree):
    response = tree.request(
        "OPTIONS",
        "/buckets/shop/history",
        headers={"Origin": "http://x.org", "Access-Control-Request-Method": "DELETE"},
        user=None,
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Methods"] == "GET,HEAD,DELETE,OPTIONS"


def test_delete_purges_matching_entries_and_returns_tombstones(tree):
    doomed = entries(tree, query="resource_name=group")
    response = tree.delete("/buckets/shop/history?resource_name=group")
    assert response.status == 200
    [tombstone] = response.data
    assert set(tombstone) == {"id", "last_modified", "deleted"}
    assert tombstone["id"] == doomed[0]["id"]
    assert tombstone["deleted"] is True
    assert response.headers["ETag"] == f'"{tombstone["last_modified"]}"'
    assert uris(tree) == pick(0, 2, 3, 4, 5, 6, 7)
    # Tombstones show with `_since`, like any list's.
    since = entries(tree, query="_since=0")
    assert since[0] == tombstone


def test_delete_in_pages(tree):
    first = tree.delete("/buckets/shop/history?_limit=5")
    assert len(first.data) == 5
    parts = urlsplit(first.headers["Next-Page"])
    second = tree.delete(f"{parts.path}?{parts.query}")
    assert len(second.data) == 3
    assert "Next-Page" not in second.headers
    assert entries(tree) == []
    reused = tree.delete(f"{parts.path}?{parts.query}")
    assert reused.status == 400


def test_history_of_a_missing_bucket(history):
    assert history.get("/buckets/nope/history").status == 403
    assert history.get("/buckets/nope/history", user=None).status == 401
    assert history.delete("/buckets/nope/history").status == 403
    assert history.get("/buckets/in%20valid/history").status == 403
