"""`GET`/`HEAD /permissions` (spec/04): what the caller holds, object by object."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from kinto_django import jsonutil
from tests import factories
from tests.accounts.test_accounts import accounts, sign_up  # noqa: F401  (fixture)
from tests.core.api.test_properties import OPERATORS, PROPERTIES, TOKENS, VALUES, check, encode

BUCKET, COLLECTION, GROUP = "/buckets/shop", factories.COLLECTION, "/buckets/shop/groups/staff"
RECORD = f"{factories.RECORDS}/r1"
ANY_CREATE = quote('["group:create","record:create"]')
ROOT = {"uri": "/", "resource_name": "root", "permissions": ["bucket:create"]}
ALL_ENTRIES = {
    BUCKET: {
        "uri": BUCKET,
        "resource_name": "bucket",
        "id": "shop",
        "bucket_id": "shop",
        "permissions": ["collection:create", "group:create", "read", "read:attributes", "write"],
    },
    COLLECTION: {
        "uri": COLLECTION,
        "resource_name": "collection",
        "id": "orders",
        "bucket_id": "shop",
        "collection_id": "orders",
        "permissions": ["read", "read:attributes", "record:create", "write"],
    },
    GROUP: {
        "uri": GROUP,
        "resource_name": "group",
        "id": "staff",
        "bucket_id": "shop",
        "group_id": "staff",
        "permissions": ["read", "write"],
    },
    RECORD: {
        "uri": RECORD,
        "resource_name": "record",
        "id": "r1",
        "bucket_id": "shop",
        "collection_id": "orders",
        "record_id": "r1",
        "permissions": ["read", "write"],
    },
}
# Same-object implications of each ACL (spec/04).
EXPANSIONS = [
    (BUCKET, "write", ["collection:create", "group:create", "read", "read:attributes", "write"]),
    (BUCKET, "read", ["read", "read:attributes"]),
    (BUCKET, "collection:create", ["collection:create", "read:attributes"]),
    (BUCKET, "group:create", ["group:create", "read:attributes"]),
    (COLLECTION, "write", ["read", "read:attributes", "record:create", "write"]),
    (COLLECTION, "read", ["read", "read:attributes"]),
    (COLLECTION, "record:create", ["read:attributes", "record:create"]),
    (GROUP, "write", ["read", "write"]),
    (GROUP, "read", ["read"]),
    (RECORD, "write", ["read", "write"]),
    (RECORD, "read", ["read"]),
]


@pytest.fixture
def enabled(kinto_settings):
    kinto_settings(experimental_permissions_endpoint=True)


@pytest.fixture
def shop(api, enabled):
    """Alice's bucket with one object of each type (she is in every `write` ACL)."""
    factories.collection(api)
    factories.group(api, "staff", members=["nobody"])
    factories.record(api, record_id="r1")


def user_id(api, user: str) -> str:
    return api.get("/", user=user).json["user"]["id"]


def listed(api, path: str = "/permissions", **kwargs) -> list[dict]:
    response = api.get(path, **kwargs)
    assert response.status == 200, response
    return response.data


def by_uri(entries: list[dict]) -> dict[str, dict]:
    return {
        entry["uri"]: {**entry, "permissions": sorted(entry["permissions"])} for entry in entries
    }


def uris(api, path: str = "/permissions", **kwargs) -> list[str]:
    return [entry["uri"] for entry in listed(api, path, **kwargs)]


# --- switch, methods, access ----------------------------------------------------------------


def test_absent_unless_enabled(api):
    response = api.get("/permissions")
    assert response.status == 404
    assert response.json["errno"] == 111
    assert "permissions_endpoint" not in api.get("/").json["capabilities"]


def test_capability_when_enabled(api, enabled):
    capability = api.get("/").json["capabilities"]["permissions_endpoint"]
    assert capability["description"].startswith("The permissions endpoint")
    assert capability["url"].startswith("https://kinto.readthedocs.io/")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_read_only(api, enabled, method):
    response = api.request(method, "/permissions", {})
    assert response.status == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}


def test_anonymous_callers_see_public_entries_by_default(api, anonymous, shop):
    api.patch(COLLECTION, {"permissions": {"read": ["system.Everyone"]}})
    entries = by_uri(listed(anonymous))
    # No root entry: creating buckets needs `system.Authenticated` (the default setting).
    assert list(entries) == [COLLECTION]
    assert entries[COLLECTION]["permissions"] == ["read", "read:attributes"]


def test_access_is_governed_by_a_setting(api, anonymous, shop, kinto_settings):
    kinto_settings(permissions_read_principals=[user_id(api, "alice")])
    assert api.get("/permissions").status == 200
    assert api.head("/permissions").status == 200
    denied = api.get("/permissions", user="bob")
    assert denied.status == 403
    assert denied.json["errno"] == 121
    unauthenticated = anonymous.get("/permissions?foo=1")
    assert unauthenticated.status == 401
    assert unauthenticated.json["errno"] == 104
    assert "WWW-Authenticate" in unauthenticated.headers


# --- what is listed -------------------------------------------------------------------------


def test_the_owner_sees_each_object_and_the_root(api, shop):
    entries = by_uri(listed(api))
    assert entries == {**ALL_ENTRIES, "/": ROOT}


@pytest.mark.parametrize("uri", [BUCKET, COLLECTION, GROUP, RECORD])
def test_entry_fields(api, shop, uri):
    entry = by_uri(listed(api))[uri]
    assert entry == ALL_ENTRIES[uri]
    assert "last_modified" not in entry


@pytest.mark.parametrize(("uri", "acl", "expected"), EXPANSIONS)
def test_permissions_are_expanded_on_the_same_object_only(api, shop, uri, acl, expected):
    bob = user_id(api, "bob")
    assert api.patch(uri, {"permissions": {acl: [bob]}}).status == 200
    entries = by_uri(listed(api, user="bob"))
    # Bob sees this object and the root, never what the ACL gives him by inheritance.
    assert set(entries) == {uri, "/"}
    assert entries[uri]["permissions"] == expected


def test_permissions_from_several_acls_and_principals_are_merged(api, shop):
    bob = user_id(api, "bob")
    api.patch(GROUP, {"data": {"members": [bob]}})
    api.patch(
        COLLECTION,
        {"permissions": {"read": [GROUP], "record:create": ["system.Authenticated"]}},
    )
    entry = by_uri(listed(api, user="bob"))[COLLECTION]
    assert entry["permissions"] == ["read", "read:attributes", "record:create"]


def test_group_members_see_what_the_group_holds_until_removed(api, shop):
    bob = user_id(api, "bob")
    api.patch(RECORD, {"permissions": {"read": [GROUP]}})
    assert RECORD not in uris(api, user="bob")
    api.patch(GROUP, {"data": {"members": [bob]}})
    assert RECORD in uris(api, user="bob")
    api.patch(GROUP, {"data": {"members": []}})
    assert RECORD not in uris(api, user="bob")


def test_a_caller_never_sees_entries_of_others(api, shop):
    bob = user_id(api, "bob")
    factories.bucket(api.as_user("bob"), "bobs")
    api.patch(RECORD, {"permissions": {"read": [bob]}})
    assert set(uris(api, user="bob")) == {"/buckets/bobs", RECORD, "/"}
    assert "/buckets/bobs" not in uris(api)
    # Filters, sorts and counts only ever reach the caller's own entries.
    assert uris(api, "/permissions?bucket_id=shop", user="bob") == [RECORD]
    assert uris(api, "/permissions?resource_name=collection", user="bob") == []
    assert api.head("/permissions", user="bob").headers["Total-Objects"] == "3"
    assert uris(api, "/permissions?bucket_id=shop", user="carol") == []


def test_everyone_and_authenticated_grants_are_listed(api, anonymous, shop):
    api.patch(BUCKET, {"permissions": {"read": ["system.Authenticated"]}})
    api.patch(RECORD, {"permissions": {"read": ["system.Everyone"]}})
    assert set(uris(api, user="bob")) == {BUCKET, RECORD, "/"}
    assert uris(anonymous) == [RECORD]


def test_deleted_objects_and_their_children_are_gone(api, shop):
    api.delete(RECORD)
    assert RECORD not in uris(api)
    factories.bucket(api, "other")
    api.delete(BUCKET)
    assert uris(api) == ["/buckets/other", "/"]


def test_unknown_principals_and_grants_to_others_are_ignored(api, shop):
    api.patch(RECORD, {"permissions": {"read": ["someone:else", "/buckets/x/groups/y"]}})
    assert set(uris(api, user="bob")) == {"/"}


# --- settings ---------------------------------------------------------------------------------


def test_settings_list_every_bucket_collection_and_group(api, shop, kinto_settings):
    bob = user_id(api, "bob")
    factories.bucket(api, "other")
    kinto_settings(
        bucket_read_principals=[bob],
        collection_create_principals=[bob],
        record_create_principals=["system.Authenticated"],
        group_write_principals=[bob],
        record_read_principals=["system.Everyone"],
    )
    entries = by_uri(listed(api, user="bob"))
    assert entries == {
        BUCKET: {
            "uri": BUCKET,
            "resource_name": "bucket",
            "id": "shop",
            "bucket_id": "shop",
            "permissions": ["collection:create", "read", "read:attributes"],
        },
        "/buckets/other": {
            "uri": "/buckets/other",
            "resource_name": "bucket",
            "id": "other",
            "bucket_id": "other",
            "permissions": ["collection:create", "read", "read:attributes"],
        },
        COLLECTION: {
            **ALL_ENTRIES[COLLECTION],
            "permissions": ["read:attributes", "record:create"],
        },
        GROUP: ALL_ENTRIES[GROUP],
        # Records are never listed from settings.
        "/": ROOT,
    }


def test_settings_merge_with_acls(api, shop, kinto_settings):
    kinto_settings(collection_read_principals=["system.Authenticated"])
    assert by_uri(listed(api))[COLLECTION] == ALL_ENTRIES[COLLECTION]
    entry = by_uri(listed(api, user="bob"))[COLLECTION]
    assert entry["permissions"] == ["read", "read:attributes"]


def test_no_root_entry_without_a_create_setting(api, shop, kinto_settings):
    kinto_settings(bucket_create_principals=["someone:else"])
    assert "/" not in uris(api)


def test_accounts(accounts, api, enabled):  # noqa: F811
    sign_up(accounts, "ana", "pw")
    ana = accounts.as_user(("ana", "pw"))
    entries = by_uri(listed(ana))
    assert entries == {
        "/accounts/ana": {
            "uri": "/accounts/ana",
            "resource_name": "account",
            "id": "ana",
            "account_id": "ana",
            "permissions": ["read", "write"],
        },
        "/": {**ROOT, "permissions": ["account:create", "bucket:create"]},
    }
    sign_up(accounts, "bea", "pw")
    assert "/accounts/bea" not in by_uri(listed(ana))
    # Anonymous callers may sign up: the root entry says so.
    assert listed(accounts) == [{**ROOT, "permissions": ["account:create"]}]
    # `account_id` is not one of the declared fields.
    response = ana.get("/permissions?account_id=ana")
    assert response.status == 400
    assert response.json["message"] == "Unknown filter field 'account_id'"


# --- filters, sorting, fields -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("resource_name=record", [RECORD]),
        ("in_resource_name=root,bucket", [BUCKET, "/"]),
        ("exclude_resource_name=root", [GROUP, RECORD, COLLECTION, BUCKET]),
        ("not_resource_name=root", [GROUP, RECORD, COLLECTION, BUCKET]),
        ("bucket_id=shop", [GROUP, RECORD, COLLECTION, BUCKET]),
        ("collection_id=orders", [RECORD, COLLECTION]),
        ("has_record_id=true", [RECORD]),
        ("has_id=false", ["/"]),
        ("id=shop", [BUCKET]),
        ("id=", []),
        # The root has no id: a missing field is greater than any value (spec/03).
        ("gt_id=r0", [GROUP, RECORD, BUCKET, "/"]),
        ("lt_id=r", [COLLECTION]),
        ("min_uri=/buckets/shop/collections/orders", [GROUP, RECORD, COLLECTION]),
        ("like_uri=ORDERS", [RECORD, COLLECTION]),
        ("like_uri=*/groups/*", [GROUP]),
        ("uri=/", ["/"]),
        ("uri.x=1", []),
        ("bucket_id=1", []),
        ("contains_permissions=record:create", [COLLECTION]),
        (f"contains_any_permissions={ANY_CREATE}", [COLLECTION, BUCKET]),
        ("contains_permissions=read", [GROUP, RECORD, COLLECTION, BUCKET]),
        ("contains_uri=x", []),
        ("has_permissions=false", []),
        ("bucket_id=shop&resource_name=collection", [COLLECTION]),
        # Entries have no timestamps: these are accepted and change nothing, as in the reference.
        ("_since=1&_before=2&lt_last_modified=1", [GROUP, RECORD, COLLECTION, BUCKET, "/"]),
    ],
)
def test_filters(api, shop, query, expected):
    assert uris(api, f"/permissions?{query}") == expected
    total = api.head(f"/permissions?{query}").headers["Total-Objects"]
    assert total == str(len(expected))


@pytest.mark.parametrize(
    "query",
    ["foo=1", "not_foo=1", "account_id=x", "last_modifed=1", "data.x=1", "_sort=foo", "_sort=-a"],
)
def test_unknown_fields_are_refused(api, shop, query):
    response = api.get(f"/permissions?{query}")
    assert response.status == 400
    assert response.json["errno"] == 107
    field = query.split("=")[0]
    if query.startswith("_sort"):
        name = query.split("=")[1].lstrip("-")
        assert response.json["message"] == f"querystring: Unknown sort field '{name}'"
    else:
        assert response.json["message"] == f"Unknown filter field '{field}'"
        assert response.json["details"][0] == {
            "location": "querystring",
            "name": query.split("=")[0],
            "description": f"Unknown filter field '{field}'",
        }


def test_bad_values_are_refused(api, shop):
    assert api.get("/permissions?_since=abc").status == 400
    assert api.get("/permissions?_limit=-1").status == 400
    assert api.get("/permissions?_token=abc").status == 400
    assert api.get("/permissions?in_id=1,2").status == 400


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", [GROUP, RECORD, COLLECTION, BUCKET, "/"]),
        ("-uri", [GROUP, RECORD, COLLECTION, BUCKET, "/"]),
        ("uri", ["/", BUCKET, COLLECTION, RECORD, GROUP]),
        ("resource_name,uri", [BUCKET, COLLECTION, GROUP, RECORD, "/"]),
        ("-resource_name", ["/", RECORD, GROUP, COLLECTION, BUCKET]),
        # A missing id sorts after every string (spec/03).
        ("id", [COLLECTION, RECORD, BUCKET, GROUP, "/"]),
        ("-id", ["/", GROUP, BUCKET, RECORD, COLLECTION]),
        ("record_id,uri", [RECORD, "/", BUCKET, COLLECTION, GROUP]),
        ("last_modified", [GROUP, RECORD, COLLECTION, BUCKET, "/"]),
    ],
)
def test_sorting(api, shop, sort, expected):
    assert uris(api, f"/permissions?_sort={sort}" if sort else "/permissions") == expected


def test_sorting_by_permissions(api, shop):
    ordered = uris(api, "/permissions?_sort=permissions,uri")
    assert sorted(ordered) == sorted([GROUP, RECORD, COLLECTION, BUCKET, "/"])
    assert uris(api, "/permissions?_sort=-permissions,uri") != ordered


def test_fields(api, shop):
    entries = listed(api, "/permissions?_fields=uri&resource_name=bucket")
    # `id` always comes along, as for every list.
    assert entries == [{"uri": BUCKET, "id": "shop"}]
    entries = listed(api, "/permissions?_fields=bucket_id,permissions&in_resource_name=root,group")
    assert entries == [
        {"bucket_id": "shop", "id": "staff", "permissions": entries[0]["permissions"]},
        {"permissions": ["bucket:create"]},
    ]
    assert sorted(entries[0]["permissions"]) == ["read", "write"]


def test_unknown_fields_in_fields_are_refused(api, shop):
    response = api.get("/permissions?_fields=uri,foo,account_id")
    assert response.status == 400
    assert response.json["message"] == (
        "Invalid _fields parameter in body: Fields account_id,foo do not exist"
    )


# --- pagination, headers --------------------------------------------------------------------


def walk(api, path: str, user: str = "alice") -> tuple[list[str], int]:
    found, pages = [], 0
    while path:
        response = api.get(path, user=user)
        assert response.status == 200, response
        found += [entry["uri"] for entry in response.data]
        pages += 1
        next_page = response.headers.get("Next-Page")
        path = urlsplit(next_page)._replace(scheme="", netloc="").geturl() if next_page else None
    return found, pages


@pytest.mark.parametrize(
    "query",
    ["", "_sort=uri", "_sort=resource_name", "_sort=-id", "_sort=permissions", "bucket_id=shop"],
)
def test_pagination_visits_every_entry_once(api, shop, query):
    for index in range(2, 6):
        factories.record(api, record_id=f"r{index}")
    everything = uris(api, f"/permissions?{query}")
    found, pages = walk(api, f"/permissions?{query}&_limit=2")
    assert found == everything
    assert pages == -(-len(everything) // 2)
    assert len(set(found)) == len(found) >= 8


def test_next_page_keeps_the_filters(api, shop):
    response = api.get("/permissions?bucket_id=shop&_limit=1")
    next_page = response.headers["Next-Page"]
    assert next_page.startswith("http://testserver/v1/permissions?bucket_id=shop&_limit=1&_token=")
    assert api.get(urlsplit(next_page)._replace(scheme="", netloc="").geturl()).data[0]["uri"] == (
        RECORD
    )


def test_paginate_by(api, shop, kinto_settings):
    kinto_settings(paginate_by=2)
    response = api.get("/permissions?_limit=100")
    assert len(response.data) == 2
    assert "_limit=2" in response.headers["Next-Page"]
    assert walk(api, "/permissions")[0] == [GROUP, RECORD, COLLECTION, BUCKET, "/"]


def test_list_headers(api, shop):
    response = api.get("/permissions")
    assert response.headers["Cache-Control"] == "no-cache, no-store"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag[1:-1].isdigit()
    assert "Last-Modified" in response.headers
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert "Next-Page" in exposed and "ETag" in exposed
    # A fixed value, as in the reference: ACL and membership changes have no timestamp.
    factories.record(api, record_id="r9")
    assert api.get("/permissions").headers["ETag"] == etag
    assert api.get("/permissions", headers={"If-None-Match": etag}).status == 200


def test_read_only_servers_list_too(api, shop, kinto_settings):
    kinto_settings(readonly=True)
    response = api.get("/permissions")
    assert response.status == 200
    assert len(response.data) == 5
    assert api.head("/permissions").status == 200


def test_head(api, shop):
    response = api.head("/permissions")
    assert response.status == 200
    assert response.content == b""
    assert response.headers["Total-Objects"] == response.headers["Total-Records"] == "5"
    assert "Total-Objects" in response.headers["Access-Control-Expose-Headers"]
    assert api.head("/permissions?resource_name=record").headers["Total-Objects"] == "1"
    assert api.head("/permissions", user="bob").headers["Total-Objects"] == "1"


# --- cost -----------------------------------------------------------------------------------------


def count_queries(api, path: str, method: str = "get", user: str = "bob") -> int:
    getattr(api, method)(path, user=user)  # warm caches (content types, permission ids)
    with CaptureQueriesContext(connection) as queries:
        response = getattr(api, method)(path, user=user)
    assert response.status == 200, response
    return len(queries)


def grant_many(api, bob: str, count: int, first: int = 0) -> None:
    """`count` records readable by bob, directly or through one of his groups."""
    requests = [
        {
            "method": "PUT",
            "path": f"{factories.RECORDS}/many{index}",
            "body": {"permissions": {"read": [bob if index % 2 else GROUP]}},
        }
        for index in range(first, first + count)
    ]
    for start in range(0, count, 25):
        response = api.post("/batch", {"requests": requests[start : start + 25]})
        assert response.status == 200, response
        assert {r["status"] for r in response.json["responses"]} == {201}


@pytest.mark.parametrize(
    "path",
    [
        "/permissions",
        "/permissions?_limit=3",
        "/permissions?_fields=uri&resource_name=record&_sort=-id",
        "/permissions?contains_permissions=read&_sort=permissions",
    ],
)
def test_query_count_does_not_grow_with_the_entries(api, shop, path):
    bob = user_id(api, "bob")
    api.patch(GROUP, {"data": {"members": [bob]}})
    grant_many(api, bob, 2)
    few = count_queries(api, path)
    few_head = count_queries(api, path, "head")
    grant_many(api, bob, 60, first=2)
    assert len(listed(api, "/permissions?resource_name=record", user="bob")) == 62
    assert count_queries(api, path) == few <= 3
    assert count_queries(api, path, "head") == few_head <= 3


def test_query_count_of_a_walk_is_one_per_page(api, shop):
    bob = user_id(api, "bob")
    grant_many(api, bob, 20)
    response = api.get("/permissions?_limit=5", user="bob")
    next_page = urlsplit(response.headers["Next-Page"])._replace(scheme="", netloc="").geturl()
    assert count_queries(api, next_page) <= 3


def test_huge_group_memberships(api, shop, kinto_settings):
    """A caller in many groups: principals are bound as parameters, whatever their number."""
    bob = user_id(api, "bob")
    requests = [
        {
            "method": "PUT",
            "path": f"/buckets/shop/groups/g{i}",
            "body": {"data": {"members": [bob]}},
        }
        for i in range(150)
    ]
    for start in range(0, len(requests), 25):
        assert api.post("/batch", {"requests": requests[start : start + 25]}).status == 200
    api.patch(RECORD, {"permissions": {"read": ["/buckets/shop/groups/g149"]}})
    assert RECORD in uris(api, user="bob")


def test_raw_content_is_valid_json(api, shop):
    response = api.get("/permissions")
    parsed = jsonutil.loads(response.content)
    assert [entry["uri"] for entry in parsed["data"]] == [GROUP, RECORD, COLLECTION, BUCKET, "/"]


# --- junk input -----------------------------------------------------------------------------

FIELDS = st.sampled_from(
    ["uri", "resource_name", "permissions", "id", "bucket_id", "record_id", "account_id"]
    + ["last_modified", "uri.x", "permissions.0", "foo", "a-b", "id.a.b.c"]
)


@st.composite
def permissions_queries(draw) -> str:
    parts: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        kind = draw(st.sampled_from(["filter", "sort", "fields", "limit", "token"]))
        if kind == "filter":
            parts.append(f"{encode(draw(OPERATORS) + draw(FIELDS))}={encode(draw(VALUES))}")
        elif kind == "sort":
            fields = draw(st.lists(st.tuples(st.sampled_from(["", "-", "+"]), FIELDS), max_size=3))
            parts.append("_sort=" + encode(",".join(sign + name for sign, name in fields)))
        elif kind == "fields":
            parts.append("_fields=" + encode(",".join(draw(st.lists(FIELDS, max_size=3)))))
        elif kind == "limit":
            parts.append(f"_limit={encode(draw(VALUES))}")
        else:
            parts.append(f"_token={encode(draw(TOKENS))}")
    return "&".join(parts)


@PROPERTIES
@given(query=permissions_queries())
def test_junk_query_strings_never_fail(api, shop, query):
    for method in ("GET", "HEAD"):
        check(api.request(method, f"/permissions?{query}"), method)
    check(api.as_user(None).get(f"/permissions?{query}"))
