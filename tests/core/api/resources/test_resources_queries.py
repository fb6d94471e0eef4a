"""Every request runs a bounded number of SQL queries, whatever the amount of data
(STYLE.md §5): the same count with 1 or 200 objects in the list, or 200 principals in an ACL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.core.api.resources import resource_kinds
from tests.core.api.resources.resource_kinds import KINDS, Kind

kind = resource_kinds.kind

# Upper bounds per request (what is measured today, plus a little room for plugins); the
# tests also check that the count does not grow with the data. Deleting a bucket purges
# three kinds of children, each with its ACLs and list timestamps: still a constant.
MAX_QUERIES = {
    # The caller's groups; parents and object together; permission check with the ACLs.
    "GET": 3,
    # The caller's groups; parents; permission check; list timestamp; the page.
    "GET list": 5,
    "PUT": 11,
    "PATCH": 11,
    "POST": 11,
    "DELETE": 12,
    "DELETE list": 15,
    # Replacing every ACL: delete the old grants, insert the new ones.
    "PUT with ACLs": 13,
    # A page with a `Next-Page`: its single-use token is stored in the cache.
    "DELETE list page": 20,
}
EXTRA = {
    # Its children, their ACLs and list timestamps, its groups' principals and its history.
    "bucket": {"DELETE": 13, "DELETE list": 16, "DELETE list page": 16},
    "collection": {"DELETE": 4, "DELETE list": 4, "DELETE list page": 4},
    # The group's principal goes: its memberships and its grants.
    "group": {"DELETE": 2, "DELETE list": 3, "DELETE list page": 3},
}
# Replacing the members: two statements.
GROUP_MEMBERS_EXTRA = 2


def membership_inserts_extra(count: int) -> int:
    """Storing `count` members in one request: Django splits bulk inserts on SQLite (999
    parameters per statement, i.e. 499 members), never on PostgreSQL."""
    return count // 499 if connection.vendor == "sqlite" else 0


def bound(kind: Kind, name: str) -> int:
    extra = EXTRA.get(kind.name, {}).get(name, 0)
    if kind.name == "group" and name in ("PUT", "PATCH", "POST", "PUT with ACLs"):
        extra += GROUP_MEMBERS_EXTRA
    return MAX_QUERIES[name] + extra


def fill(api, kind: Kind, count: int, **body) -> None:
    """`count` objects o0…, written 25 per batch request."""
    for start in range(0, count, 25):
        requests = [
            {"method": "PUT", "path": kind.path(f"o{index}"), "body": body or {"data": {}}}
            for index in range(start, min(count, start + 25))
        ]
        response = api.post("/batch", {"requests": requests})
        assert {item["status"] for item in response.json["responses"]} <= {200, 201}


@pytest.fixture
def warm(api, kind: Kind) -> None:
    """One request of each kind first, so that per-process caches (content types,
    permission ids) are loaded as they are on a running server."""
    path = kind.path("warm")
    api.put(path, {"permissions": {name: ["someone"] for name in kind.acl_names}})
    api.patch(path, {"data": {"n": 1}})
    api.post(kind.plural, {"data": {"id": "warm"}})
    api.get(path)
    api.delete(path)
    api.put(path)
    api.delete(kind.plural)


def count_queries(send) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as context:
        response = send()
    return len(context.captured_queries), response


def object_requests(api, kind: Kind) -> dict:
    path = kind.path("o0")
    return {
        "GET": lambda: api.get(path),
        "PUT": lambda: api.put(path, {"data": {"n": 1}}),
        "PATCH": lambda: api.patch(path, {"data": {"n": 2}}),
        "POST": lambda: api.post(kind.plural, {"data": {"n": 3}}),
        "DELETE": lambda: api.delete(path),
    }


def measure(api, kind: Kind, django_assert_max_num_queries) -> dict[str, int]:
    counts = {}
    for name, send in object_requests(api, kind).items():
        with django_assert_max_num_queries(bound(kind, name)):
            counts[name], response = count_queries(send)
        assert response.status in (200, 201), (name, response)
    return counts


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "POST", "DELETE"])
def test_object_requests_are_bounded(api, kind: Kind, warm, django_assert_max_num_queries, method):
    fill(api, kind, 1)
    send = object_requests(api, kind)[method]
    with django_assert_max_num_queries(bound(kind, method)):
        response = send()
    assert response.status in (200, 201)


def test_object_requests_do_not_grow_with_the_list(
    api, kind: Kind, warm, django_assert_max_num_queries
):
    fill(api, kind, 1)
    small = measure(api, kind, django_assert_max_num_queries)
    api.delete(kind.plural)
    fill(api, kind, 200)
    large = measure(api, kind, django_assert_max_num_queries)
    assert large == small


def test_object_requests_do_not_grow_with_the_acls(
    api, kind: Kind, warm, django_assert_max_num_queries
):
    fill(api, kind, 1)
    small = measure(api, kind, django_assert_max_num_queries)
    principals = [f"user-{index}" for index in range(200)]
    groups = [f"system.group-{index}" for index in range(50)]
    fill(api, kind, 1, data={}, permissions={"read": principals + groups})
    large = measure(api, kind, django_assert_max_num_queries)
    assert large == small


def test_acl_replacement_does_not_grow_with_the_acls(
    api, kind: Kind, warm, django_assert_max_num_queries
):
    fill(api, kind, 1)
    counts = []
    for size in (1, 200):
        body = {"permissions": {"read": [f"user-{index}" for index in range(size)]}}
        # Same principals twice, so both measures find their users already created.
        api.put(kind.path("o0"), body)
        with django_assert_max_num_queries(bound(kind, "PUT with ACLs")):
            count, response = count_queries(lambda body=body: api.put(kind.path("o0"), body))
        assert response.status == 200
        assert len(response.json["permissions"]["read"]) == size
        counts.append(count)
    assert counts[0] == counts[1]


@pytest.mark.parametrize("limit,sizes", [(None, (1, 200)), (5, (6, 200))])
def test_list_delete_does_not_grow_with_the_page(
    api, kind: Kind, warm, django_assert_max_num_queries, limit, sizes
):
    suffix, name = (f"?_limit={limit}", "DELETE list page") if limit else ("", "DELETE list")
    counts = []
    for size in sizes:
        fill(api, kind, size)
        with django_assert_max_num_queries(bound(kind, name)):
            count, response = count_queries(lambda: api.delete(kind.plural + suffix))
        assert response.status == 200
        assert len(response.data) == min(size, limit or size)
        assert ("Next-Page" in response.headers) == bool(limit)
        counts.append(count)
        api.delete(kind.plural)
    assert counts[0] == counts[1]


def test_list_get_does_not_grow_with_the_page(
    api, kind: Kind, warm, django_assert_max_num_queries
):
    counts = []
    for size in (1, 200):
        fill(api, kind, size)
        with django_assert_max_num_queries(MAX_QUERIES["GET list"]):
            count, response = count_queries(lambda: api.get(kind.plural))
        assert len(response.data) == size
        counts.append(count)
    assert counts[0] == counts[1]


def test_group_members_do_not_grow_the_queries(api, django_assert_max_num_queries):
    api.put("/buckets/shop")
    counts = []
    for size in (1, 200):
        members = [f"member-{index}" for index in range(size)]
        api.put("/buckets/shop/groups/staff", {"data": {"members": members}})
        body = {"data": {"members": members}}
        with django_assert_max_num_queries(
            bound(KINDS["group"], "PUT") + membership_inserts_extra(size)
        ):
            count, response = count_queries(
                lambda body=body: api.put("/buckets/shop/groups/staff", body)
            )
        assert response.data["members"] == members
        counts.append(count - membership_inserts_extra(size))
    assert counts[0] == counts[1]


def test_batch_sub_requests_are_bounded(api, kind: Kind, warm, django_assert_max_num_queries):
    def batch(size: int):
        requests = [{"method": "POST", "path": kind.plural, "body": {"data": {}}}] * size
        return api.post("/batch", {"requests": requests})

    batch(1)  # the caller's user row and permission ids exist from now on
    one, response = count_queries(lambda: batch(1))
    assert response.status == 200
    per_request = bound(kind, "POST") + 2  # plus the sub-request's savepoint
    with django_assert_max_num_queries(one + 24 * per_request):
        many, response = count_queries(lambda: batch(25))
    assert [item["status"] for item in response.json["responses"]] == [201] * 25
    # Each sub-request costs the same: the batch grows linearly, not worse.
    assert (many - one) % 24 == 0
    assert (many - one) // 24 <= per_request
