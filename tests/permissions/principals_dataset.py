"""A dataset written and read through the HTTP API only, so that any version of the server can
run it: `python principals_dataset.py populate|observe` in a checkout, with the settings and
database in the environment. `observe` prints what clients see (ACLs, members, who may read
what) and what the site's own tables hold, as JSON."""

from __future__ import annotations

import base64
import json
import sys

import django


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ALICE = basic("alice", "alice-pw")  # basicauth
ANA = basic("ana", "ana-pw")  # an account


def call(client, method: str, path: str, auth: str | None = None, body=None):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    data = json.dumps(body) if body is not None else None
    response = client.generic(method, f"/v1{path}", data or "", "application/json", **headers)
    return response.status_code, (response.json() if response.content else None)


def populate(client) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    User = get_user_model()
    admin = User.objects.create_user("siteadmin", password="site-pw")
    User.objects.create(username="sso", password="")  # a single sign-on user: no password
    editors = Group.objects.create(name="editors")
    admin.groups.add(editors)
    assign_perm("auth.change_group", admin, editors)  # the site's own guardian permission

    assert call(client, "PUT", "/accounts/ana", None, {"data": {"password": "ana-pw"}})[0] == 201
    steps = [
        ("PUT", "/buckets/shop", {"permissions": {"read": ["system.Authenticated"]}}),
        (
            "PUT",
            "/buckets/shop/collections/orders",
            {"permissions": {"read": ["account:ana", "django:bob"]}},
        ),
        (
            "PUT",
            "/buckets/shop/groups/staff",
            {"data": {"members": ["account:ana", "django:bob", "bare"]}},
        ),
        (
            "PUT",
            "/buckets/shop/collections/orders/records/r1",
            {"data": {"n": 1}, "permissions": {"write": ["/buckets/shop/groups/staff"]}},
        ),
        ("PUT", "/buckets/public", {"permissions": {"read": ["system.Everyone"]}}),
    ]
    for method, path, body in steps:
        status, answer = call(client, method, path, ALICE, body)
        assert status == 201, (path, status, answer)


def observe(client) -> dict:
    """Access first (a write adds its writer to the ACL), then the ACLs."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from guardian.models import UserObjectPermission

    seen: dict = {}
    record = "/buckets/shop/collections/orders/records/r1"
    seen["ana writes r1 through the group"] = call(
        client, "PATCH", record, ANA, {"data": {"by": "ana"}}
    )[0]
    seen["ana reads orders"] = call(client, "GET", "/buckets/shop/collections/orders", ANA)[0]
    seen["anonymous reads public"] = call(client, "GET", "/buckets/public")[0]
    for path in (
        "/buckets/shop",
        "/buckets/shop/collections/orders",
        "/buckets/shop/groups/staff",
        "/buckets/shop/collections/orders/records/r1",
        "/buckets/public",
    ):
        status, body = call(client, "GET", path, ALICE)
        seen[path] = [status, body["permissions"], body["data"].get("members")]
    seen["site users"] = sorted(get_user_model().objects.values_list("username", flat=True))
    seen["site groups"] = sorted(Group.objects.values_list("name", flat=True))
    seen["site guardian permissions"] = UserObjectPermission.objects.count()
    return seen


if __name__ == "__main__":
    django.setup()
    from django.test import Client

    client = Client()
    if sys.argv[1] == "populate":
        populate(client)
    else:
        print(json.dumps(observe(client), sort_keys=True))
