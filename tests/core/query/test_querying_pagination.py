"""Sorting, `_limit`, keyset pagination with `Next-Page`, and HEAD counts (spec/03), over HTTP."""

from __future__ import annotations

import base64
import json
import random
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.core.query.test_querying_filters import LIST_PATHS, Resource, invalid

BASE = "http://testserver/v1"


@pytest.fixture(params=sorted(LIST_PATHS))
def resource(request: Any, api: Any) -> Resource:
    return Resource(api, request.param)


@pytest.fixture
def records(api: Any) -> Resource:
    return Resource(api, "record")


def relative(url: str) -> str:
    """A Next-Page URL as a path for the test client (which adds nothing)."""
    assert url.startswith(BASE + "/"), url
    return url[len("http://testserver") :]


def follow(resource: Resource, query: str, between_pages=None) -> tuple[list[dict], list[str]]:
    """Every page of a list: the objects and the Next-Page URLs that led there."""
    response = resource.get(query)
    assert response.status == 200, response
    objects, urls = list(response.data), []
    while "Next-Page" in response.headers:
        urls.append(response.headers["Next-Page"])
        if between_pages is not None:
            between_pages(len(urls))
        response = resource.api.get(relative(urls[-1]))
        assert response.status == 200, response
        objects += response.data
        assert len(urls) < 1000, "pagination does not end"
    return objects, urls


def ids(objects: list[dict]) -> list[str]:
    return [obj["id"] for obj in objects]


# --- sorting ---------------------------------------------------------------------------------

SORTABLE = {
    "null": {"v": None},
    "s-digit": {"v": "3"},
    "s-upper": {"v": "ABC"},
    "s-lower": {"v": "abc"},
    "s-accent": {"v": "été"},
    "i-neg": {"v": -1},
    "f-half": {"v": 0.5},
    "i-ten": {"v": 10},
    "b-false": {"v": False},
    "b-true": {"v": True},
    "array": {"v": [1]},
    "object": {"v": {"a": 1}},
    "missing-old": {"w": 1},
    "missing-new": {},
}
ASCENDING = [
    "null",
    "s-digit",
    "s-upper",
    "s-lower",
    "s-accent",
    "i-neg",
    "f-half",
    "i-ten",
    "b-false",
    "b-true",
    "array",
    "object",
    # Ties are broken by the default -last_modified.
    "missing-new",
    "missing-old",
]


@pytest.fixture(params=["typed keys", "bytewise collation"])
def string_order(request: Any, monkeypatch: Any) -> None:
    """PostgreSQL sorts with two keys per field, or with jsonb's own order where the database
    compares text byte by byte (C collation; `kinto_django.core.query.sql.compares_bytewise`). The test database
    is not C-collated: the second variant forces that path, and relies on its collation
    ordering these strings by code point too (C.UTF-8 does)."""
    from django.db import connection

    from kinto_django.core.query import sql

    if request.param == "bytewise collation":
        if connection.vendor != "postgresql":
            pytest.skip("a PostgreSQL collation")
        monkeypatch.setattr(sql, "compares_bytewise", lambda connection: True)


@pytest.fixture
def sortable(resource: Resource, string_order: None) -> Resource:
    resource.objects = resource.fill(SORTABLE)
    return resource


def test_sort_follows_the_type_rank(sortable: Resource) -> None:
    assert sortable.ids("_sort=v") == ASCENDING
    assert sortable.ids("_sort=+v") == ASCENDING
    # Descending: missing fields first, ties still newest first.
    descending = ["missing-new", "missing-old", *reversed(ASCENDING[:-2])]
    assert sortable.ids("_sort=-v") == descending


def test_sort_pages_follow_the_same_order(sortable: Resource) -> None:
    for query, expected in [
        ("_sort=v", ASCENDING),
        ("_sort=-v", ["missing-new", "missing-old", *reversed(ASCENDING[:-2])]),
    ]:
        for limit in (1, 2, 5):
            objects, _ = follow(sortable, f"{query}&_limit={limit}")
            assert ids(objects) == expected, (query, limit)


def test_default_sort_is_newest_first(resource: Resource) -> None:
    resource.fill({"b": {}, "a": {}, "c": {}})
    assert resource.ids() == ["c", "a", "b"]
    assert resource.ids("_sort=last_modified") == ["b", "a", "c"]
    assert resource.ids("_sort=-last_modified") == ["c", "a", "b"]


MULTI_SORT_CASES = [
    ("_sort=id", ["A", "B", "a", "b"]),
    ("_sort=-id", ["b", "a", "B", "A"]),
    ("_sort=status,-qty", ["b", "B", "A", "a"]),
    ("_sort=status,qty", ["b", "A", "B", "a"]),
    ("_sort=-status,qty", ["a", "A", "B", "b"]),
    ("_sort=status", ["b", "B", "A", "a"]),
    ("_sort=qty,id", ["A", "B", "a", "b"]),
    ("_sort=-qty,-id", ["b", "a", "B", "A"]),
    ("_sort=meta.rank", ["B", "A", "b", "a"]),
    ("_sort=-meta.rank", ["a", "b", "A", "B"]),
    # Malformed entries are skipped.
    ("_sort=a-b,status,,-,%20", ["b", "B", "A", "a"]),
    ("_sort=", ["a", "b", "B", "A"]),
    ("_sort=-", ["a", "b", "B", "A"]),
    ("_sort=unknown", ["a", "b", "B", "A"]),
    ("_sort=last_modified,status", ["A", "B", "b", "a"]),
    ("_sort=-deleted,id", ["A", "B", "a", "b"]),
]


def test_multi_field_sort(resource: Resource, string_order: None) -> None:
    resource.fill(
        {
            "A": {"status": "open", "qty": 1, "meta": {"rank": 2}},
            "B": {"status": "open", "qty": 2, "meta": {"rank": 1}},
            "b": {"status": "hold", "qty": 3, "meta": {"rank": 3}},
            "a": {"status": "pending", "qty": 3},
        }
    )
    for query, expected in MULTI_SORT_CASES:
        assert resource.ids(query) == expected, query
        objects, _ = follow(resource, f"{query}&_limit=1")
        assert ids(objects) == expected, query


def test_too_many_sort_fields(resource: Resource, kinto_settings) -> None:
    kinto_settings(max_sort_fields=2)
    assert resource.get("_sort=a,b").status == 200
    response = resource.get("_sort=a,b,c")
    assert response.status == 400
    assert response.json["details"][0]["name"] == "_sort"


# --- _limit and Next-Page --------------------------------------------------------------------


def test_next_page_keeps_every_parameter(resource: Resource) -> None:
    resource.fill({f"o{n}": {"n": n, "tag": "x"} for n in range(5)})
    query = 'tag="x"&_sort=-n&_fields=n&_foo=bar&min_n=0&_limit=2'
    response = resource.get(query)
    assert response.status == 200
    assert ids(response.data) == ["o4", "o3"]
    assert response.data[0] == {
        "id": "o4",
        "n": 4,
        "last_modified": response.data[0]["last_modified"],
    }
    url = response.headers["Next-Page"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}{resource.path}"
    params = parse_qsl(parts.query, keep_blank_values=True)
    names = [name for name, _ in params]
    assert sorted(names) == sorted(
        ["tag", "_sort", "_fields", "_foo", "min_n", "_limit", "_token"]
    )
    assert dict(params) | {"_token": None} == {
        "tag": '"x"',
        "_sort": "-n",
        "_fields": "n",
        "_foo": "bar",
        "min_n": "0",
        "_limit": "2",
        "_token": None,
    }
    assert "Next-Page" in response.headers["Access-Control-Expose-Headers"]
    second = resource.api.get(relative(url))
    assert ids(second.data) == ["o2", "o1"]
    assert "_token" in second.headers["Next-Page"]
    last = resource.api.get(relative(second.headers["Next-Page"]))
    assert ids(last.data) == ["o0"]
    assert "Next-Page" not in last.headers


def test_token_is_base64_json_with_the_last_object(resource: Resource) -> None:
    resource.fill({f"o{n}": {"n": n} for n in range(3)})
    url = resource.get("_sort=n&_limit=2").headers["Next-Page"]
    token = dict(parse_qsl(urlsplit(url).query))["_token"]
    decoded = json.loads(base64.b64decode(token))
    assert set(decoded) == {"last_object", "offset", "nonce"}
    assert decoded["last_object"]["n"] == 1
    assert "last_modified" in decoded["last_object"]
    assert decoded["nonce"].startswith("pagination-token-")
    assert decoded["offset"] == 2


def test_no_next_page_when_the_last_page_is_full(resource: Resource) -> None:
    resource.fill({f"o{n}": {} for n in range(4)})
    first = resource.get("_limit=2")
    second = resource.api.get(relative(first.headers["Next-Page"]))
    assert len(second.data) == 2
    assert "Next-Page" not in second.headers
    assert "Next-Page" not in resource.get("_limit=4").headers
    assert "Next-Page" not in resource.get("_limit=5").headers
    assert "Next-Page" not in resource.get().headers


def test_get_tokens_are_reusable(resource: Resource) -> None:
    resource.fill({f"o{n}": {} for n in range(3)})
    url = resource.get("_limit=1").headers["Next-Page"]
    first = resource.api.get(relative(url))
    again = resource.api.get(relative(url))
    assert first.status == again.status == 200
    assert first.data == again.data
    assert ids(first.data) == ["o1"]


LIMIT_CASES = [
    ({"paginate_by": 2}, "", 2, "2"),
    ({"paginate_by": 2}, "_limit=5", 2, "2"),
    ({"paginate_by": 2}, "_limit=1", 1, "1"),
    ({"paginate_by": 2}, "_limit=0", 2, "2"),
    ({"storage_max_fetch_size": 3}, "", 3, "3"),
    ({"storage_max_fetch_size": 3}, "_limit=10", 3, "3"),
    ({"storage_max_fetch_size": 3}, "_limit=0", 3, "3"),
    ({"storage_max_fetch_size": 3, "paginate_by": 4}, "", 3, "3"),
    ({"storage_max_fetch_size": 3, "paginate_by": 2}, "_limit=3", 2, "2"),
    ({}, "_limit=2", 2, "2"),
    ({}, "_limit=2.7", 2, "2"),
    ({}, '_limit="2"', 2, "2"),
    ({}, "_limit=", 5, None),
    ({}, "_limit=null", 5, None),
    ({}, "_limit=0", 5, None),
    ({}, "_limit=9223372036854775808", 5, None),
]


def test_effective_limit(resource: Resource, kinto_settings) -> None:
    resource.fill({f"o{n}": {"n": n} for n in range(5)})
    for overrides, query, page, next_limit in LIMIT_CASES:
        kinto_settings(**{"paginate_by": None, "storage_max_fetch_size": 10000, **overrides})
        case = (overrides, query)
        response = resource.get(query)
        assert response.status == 200, case
        assert len(response.data) == page, case
        if next_limit is None:
            assert "Next-Page" not in response.headers, case
            continue
        params = dict(parse_qsl(urlsplit(response.headers["Next-Page"]).query))
        assert params["_limit"] == next_limit, case
        objects, _ = follow(resource, query)
        assert sorted(ids(objects)) == [f"o{n}" for n in range(5)], case


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("_limit=x", invalid("_limit", '"x" is not a number')),
        ('_limit="x"', invalid("_limit", '"x" is not a number')),
        ("_limit=true", invalid("_limit", '"true" is not a number')),
        ("_limit=[1]", invalid("_limit", '"[1]" is not a number')),
        ("_limit=-1", invalid("_limit", "-1 is less than minimum value 0")),
        (
            "_limit=9223372036854775809",
            invalid(
                "_limit", "9223372036854775809 is greater than maximum value 9223372036854775808"
            ),
        ),
        (
            "_limit=1e30",
            invalid(
                "_limit",
                "1000000000000000019884624838656 is greater than maximum value 9223372036854775808",
            ),
        ),
    ],
)
def test_invalid_limit(resource: Resource, query: str, body: dict) -> None:
    response = resource.get(query)
    assert response.status == 400
    assert response.json == body


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.b64encode(raw).decode().replace("+", "%2B").replace("=", "%3D")


BAD_TOKENS = [
    "abc",
    "!!!",
    b64(b"not json"),
    b64(b"\xff\xfe"),
    b64([]),
    b64({}),
    b64({"a": 1}),
    b64({"last_object": {}}),
    b64({"last_object": {}, "offset": 0}),
    b64({"last_object": {}, "nonce": "n"}),
    b64({"last_object": [], "offset": 0, "nonce": "n"}),
    b64({"last_object": {}, "offset": "0", "nonce": "n"}),
    b64({"last_object": {}, "offset": -1, "nonce": "n"}),
    b64({"last_object": {}, "offset": True, "nonce": "n"}),
    b64({"last_object": {}, "offset": 1.5, "nonce": "n"}),
    b64({"last_object": {}, "offset": 0, "nonce": 1}),
    b64({"last_object": {}, "offset": 0, "nonce": "n", "extra": 1}),
    b64({"last_object": {"last_modified": "x"}, "offset": 0, "nonce": "n"}),
    b64({"last_object": {"last_modified": True}, "offset": 0, "nonce": "n"}),
    b64({"last_object": {"last_modified": -1}, "offset": 0, "nonce": "n"}),
    b64({"last_object": {"last_modified": 2**64}, "offset": 0, "nonce": "n"}),
    b64({"last_object": {"id": 1}, "offset": 0, "nonce": "n"}),
    b64({"last_object": {"v": "\u0000"}, "offset": 0, "nonce": "n"}),
]


def test_bad_tokens(resource: Resource) -> None:
    resource.fill({"one": {"v": 1}})
    body = invalid(None, "_token has invalid content")
    failures = []
    for token in BAD_TOKENS:
        for response in (
            resource.get(f"_token={token}"),
            resource.get(f"_sort=v,id&_token={token}"),
            resource.api.delete(f"{resource.path}?_token={token}"),
        ):
            if response.status != 400 or response.json != body:
                failures.append((token, response.status, response.json))
    assert not failures, failures
    assert resource.ids() == ["one"]


def test_crafted_tokens_with_odd_values_never_fail(resource: Resource) -> None:
    resource.fill({"one": {"v": 1}, "two": {"v": "x"}})
    values = [None, True, "x", 2**70, -(2**70), 1.5, [1, [2]], {"a": {"b": None}}, "", "é"]
    for value in values:
        token = b64(
            {"last_object": {"v": value, "id": "x", "last_modified": 1}, "offset": 0, "nonce": "n"}
        )
        for sort in ("v", "-v", "v,id", "-v,-id", "id,v", "v.a,-last_modified"):
            response = resource.get(f"_sort={sort}&_token={token}")
            assert response.status == 200, (value, sort, response)


def test_empty_token_is_ignored(resource: Resource) -> None:
    resource.fill({"one": {}})
    assert resource.ids("_token=") == ["one"]


def test_token_from_another_sort_still_pages(resource: Resource) -> None:
    resource.fill({f"o{n}": {"n": n} for n in range(4)})
    url = resource.get("_sort=n&_limit=2").headers["Next-Page"]
    token = dict(parse_qsl(urlsplit(url).query))["_token"]
    response = resource.get(f"_sort=-n&_token={b64(json.loads(base64.b64decode(token)))}")
    assert response.status == 200
    assert ids(response.data) == ["o0"]


# --- pagination under concurrent writes ------------------------------------------------------


def qty_title_dataset(rng: random.Random, size: int) -> dict[str, dict[str, Any]]:
    objects = {}
    for n in range(size):
        data: dict[str, Any] = {"title": rng.choice(["a", "b", "B", "c", "é", ""])}
        kind = rng.random()
        if kind < 0.6:
            data["qty"] = rng.choice([1, 2, 2, 3, 3, 3, 2.5])
        elif kind < 0.7:
            data["qty"] = rng.choice([None, "2", True, [1]])
        if rng.random() < 0.2:
            del data["title"]
        objects[f"s{n:03d}"] = data
    return objects


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(
    "sort", ["-qty,title", "qty,title", "title", "-title,-qty", "qty,-id", "-last_modified"]
)
def test_pagination_is_stable_under_concurrent_writes(
    records: Resource, seed: int, sort: str
) -> None:
    """Records present from the first page to the last appear exactly once, in order,
    whatever is created or deleted in between."""
    rng = random.Random(f"{seed}-{sort}")
    stable = records.fill(qty_title_dataset(rng, 14))
    churn = list(records.fill({f"x{n:03d}": {"qty": 2, "title": "b"} for n in range(6)}))
    counter = iter(range(1000))

    def between_pages(page: int) -> None:
        for _ in range(rng.randint(0, 3)):
            if churn and rng.random() < 0.5:
                records.delete(churn.pop(rng.randrange(len(churn))))
            else:
                data = qty_title_dataset(rng, 1)["s000"]
                churn.append(records.create(f"y{next(counter):03d}", data)["id"])

    for limit in (1, 3, 4):
        objects, _ = follow(records, f"_sort={sort}&_limit={limit}", between_pages)
        seen = [object_id for object_id in ids(objects) if object_id in stable]
        assert sorted(seen) == sorted(stable), (limit, seen)
        # Pages are in the order of a single unpaginated read of the stable records.
        expected = [object_id for object_id in records.ids(f"_sort={sort}") if object_id in stable]
        assert seen == expected, limit


def test_pagination_stable_while_records_are_updated_elsewhere(records: Resource) -> None:
    stable = records.fill({f"s{n}": {"qty": n % 3, "title": str(n)} for n in range(9)})
    records.fill({"moving": {"qty": 0, "title": "m"}})
    values = iter([5, -5, 1, 2, 0, 7, None, "x"] * 5)

    def between_pages(page: int) -> None:
        response = records.api.patch(f"{records.path}/moving", {"data": {"qty": next(values)}})
        assert response.status == 200

    objects, _ = follow(records, "_sort=-qty,title&_limit=2", between_pages)
    seen = [object_id for object_id in ids(objects) if object_id in stable]
    assert sorted(seen) == sorted(stable)
    assert len(seen) == len(set(seen))


def test_pagination_with_filters_and_tombstones(records: Resource) -> None:
    records.fill({f"r{n}": {"qty": n % 4} for n in range(10)})
    for n in (1, 5):
        records.delete(f"r{n}")
    everything = records.list("_since=0&_sort=qty")
    paged, urls = follow(records, "_since=0&_sort=qty&_limit=3")
    assert paged == everything
    assert len(everything) == 10
    assert all("_since=0" in url for url in urls)
    assert [obj["id"] for obj in everything if obj.get("deleted")] == ["r5", "r1"]


WHOLE_LIST_QUERIES = [
    "",
    "_sort=v",
    "_sort=-v",
    "_sort=v,id",
    "_sort=-v,title",
    "_sort=id",
    "_sort=-id",
    "_sort=last_modified",
    "_sort=meta.rank,-v",
    "_sort=-title,v&gt_v=1",
    "_sort=title&has_v=true",
    "_sort=v&_fields=title",
]


def test_every_page_together_is_the_whole_list(resource: Resource) -> None:
    rng = random.Random(4)
    values = [None, "a", "B", 1, 2, 2, 2.5, True, False, [1], {"a": 1}]
    objects = {}
    for n in range(12):
        data: dict[str, Any] = {"title": rng.choice(["t", "u", "T"])}
        if rng.random() < 0.8:
            data["v"] = rng.choice(values)
        if rng.random() < 0.5:
            data["meta"] = {"rank": rng.choice([1, 2, "x"])}
        objects[f"o{n:02d}"] = data
    resource.fill(objects)
    for query in WHOLE_LIST_QUERIES:
        whole = resource.list(query)
        for limit in (1, 3):
            paged, _ = follow(resource, f"{query}&_limit={limit}")
            assert paged == whole, (query, limit)


# --- DELETE pages ----------------------------------------------------------------------------


def test_delete_tokens_are_single_use(resource: Resource) -> None:
    resource.fill({f"o{n}": {} for n in range(5)})
    first = resource.api.delete(f"{resource.path}?_limit=2")
    assert first.status == 200
    assert ids(first.data) == ["o4", "o3"]
    url = relative(first.headers["Next-Page"])
    second = resource.api.delete(url)
    assert second.status == 200
    assert ids(second.data) == ["o2", "o1"]
    again = resource.api.delete(url)
    assert again.status == 400
    assert again.json == invalid(None, "_token was already used or has expired.")
    assert resource.ids() == ["o0"]


@pytest.mark.parametrize("nonce", ["n", "pagination-token-x", "\u000bt\u009f", "", 7])
def test_delete_with_a_crafted_nonce_is_refused_without_a_cache_lookup(
    resource: Resource, nonce: Any, monkeypatch: Any
) -> None:
    from django.core.cache import cache

    resource.fill({"o0": {}})
    looked_up: list[str] = []
    monkeypatch.setattr(cache, "get", lambda key, *args: looked_up.append(key))
    token = b64({"last_object": {"last_modified": 1, "id": "x"}, "offset": 0, "nonce": nonce})
    response = resource.api.delete(f"{resource.path}?_token={token}")
    assert response.status == 400
    expected = (
        "_token has invalid content" if nonce == 7 else "_token was already used or has expired."
    )
    assert response.json == invalid(None, expected)
    assert not [key for key in looked_up if key.startswith("kinto:token:")]
    assert resource.ids() == ["o0"]


# --- HEAD counts -----------------------------------------------------------------------------


def test_head_counts(resource: Resource) -> None:
    resource.fill({f"o{n}": {"n": n} for n in range(5)})
    resource.delete("o0")
    response = resource.head("_limit=1")
    assert response.status == 200
    assert response.content == b""
    assert response.headers["Total-Objects"] == "4"
    assert response.headers["Total-Records"] == "4"
    assert "Next-Page" not in response.headers
    assert "ETag" in response.headers and "Last-Modified" in response.headers
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert "Total-Objects" in exposed and "Total-Records" in exposed
    assert resource.head("min_n=3").headers["Total-Objects"] == "2"
    assert resource.head("_since=0").headers["Total-Records"] == "4"
    assert resource.head("in_n=0,1").headers["Total-Records"] == "1"
    url = resource.get("_limit=2").headers["Next-Page"]
    with_token = resource.api.head(relative(url))
    assert with_token.headers["Total-Objects"] == "4"
    assert "Total-Objects" not in resource.get().headers


def test_head_counts_respect_visibility(api: Any) -> None:
    resource = Resource(api, "record")
    bob = api.as_user("bob").get("/").json["user"]["id"]
    resource.fill({f"o{n}": {"n": n} for n in range(4)})
    for n in (1, 2):
        response = api.patch(f"{resource.path}/o{n}", {"permissions": {"read": [bob]}})
        assert response.status == 200
    as_bob = api.as_user("bob")
    assert as_bob.head(resource.path).headers["Total-Objects"] == "2"
    assert as_bob.head(f"{resource.path}?n=1").headers["Total-Objects"] == "1"
    listed = as_bob.get(f"{resource.path}?_limit=1")
    assert ids(listed.data) == ["o2"]
    following = as_bob.get(relative(listed.headers["Next-Page"]))
    assert ids(following.data) == ["o1"]
    assert "Next-Page" not in following.headers


# --- a constant number of queries ------------------------------------------------------------


def test_list_query_count_does_not_depend_on_page_size(
    api: Any, django_assert_max_num_queries
) -> None:
    resource = Resource(api, "record")
    bob = api.as_user("bob").get("/").json["user"]["id"]
    requests = [
        {
            "method": "PUT",
            "path": f"{resource.path}/r{n:03d}",
            "body": {
                "data": {"qty": n % 7, "title": f"t{n % 5}"},
                **({"permissions": {"read": [bob]}} if n % 2 else {}),
            },
        }
        for n in range(210)
    ]
    for start in range(0, len(requests), 25):
        batch = api.post("/batch", {"requests": requests[start : start + 25]})
        assert batch.status == 200
        assert all(r["status"] == 201 for r in batch.json["responses"])
    query = "_sort=-qty,title&min_qty=0&like_title=t*&has_qty=true"
    for client, visible in ((api, 210), (api.as_user("bob"), 105)):
        assert client.get(f"{resource.path}?_limit=1").status == 200  # warm-up
        counts = {}
        for limit in (1, 200):
            with django_assert_max_num_queries(8) as captured:
                response = client.get(f"{resource.path}?{query}&_limit={limit}")
            assert response.status == 200
            assert len(response.data) == min(limit, visible)
            counts[limit] = len(captured.captured_queries)
        assert counts[1] == counts[200], counts
        with django_assert_max_num_queries(counts[1]):
            response = client.get(f"{resource.path}?{query}&_limit=200")
            assert len(response.data) == min(200, visible)
        with django_assert_max_num_queries(counts[1]):
            assert client.head(f"{resource.path}?{query}").status == 200
