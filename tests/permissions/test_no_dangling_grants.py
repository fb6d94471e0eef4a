"""Deleting a principal's source (group, account, bucket) leaves no grant that a new object
with the same id could pick up (issue 3)."""

from tests import factories
from tests.accounts.test_accounts import accounts, sign_up  # noqa: F401  (fixture)


def user_id(api, user):
    return api.get("/", user=user).json["user"]["id"]


def test_a_recreated_group_does_not_inherit_the_old_grants(api):
    factories.collection(api)
    bob = user_id(api, "bob")
    factories.group(api, "staff", members=[bob])
    api.patch(factories.COLLECTION, {"permissions": {"read": ["/buckets/shop/groups/staff"]}})
    assert api.get(factories.RECORDS, user="bob").status == 200
    assert api.delete("/buckets/shop/groups/staff").status == 200
    # Same group id, new members: the grant given to the old group is gone.
    factories.group(api, "staff", members=[bob])
    assert api.get(factories.RECORDS, user="bob").status == 403
    acls = api.get(factories.COLLECTION).json["permissions"]
    assert "/buckets/shop/groups/staff" not in acls.get("read", [])


def test_a_recreated_bucket_does_not_revive_its_groups_grants(api):
    factories.collection(api)
    factories.bucket(api, "other")
    bob = user_id(api, "bob")
    factories.group(api, "staff", members=[bob])
    api.put("/buckets/other", {"permissions": {"read": ["/buckets/shop/groups/staff"]}})
    assert api.get("/buckets/other", user="bob").status == 200
    assert api.delete("/buckets/shop").status == 200
    factories.bucket(api)
    factories.group(api, "staff", members=[bob])
    assert api.get("/buckets/other", user="bob").status == 403


def test_a_new_account_with_a_deleted_name_inherits_nothing(accounts, api):  # noqa: F811
    sign_up(accounts, "ana", "first")
    ana = accounts.as_user(("ana", "first"))
    factories.collection(api)
    factories.group(api, "staff", members=["account:ana"])
    api.patch(factories.COLLECTION, {"permissions": {"write": ["account:ana"]}})
    api.put("/buckets/other", {"permissions": {"read": ["/buckets/shop/groups/staff"]}})
    assert ana.get(factories.RECORDS).status == 200
    assert ana.get("/buckets/other").status == 200
    assert ana.delete("/accounts/ana").status == 200
    # Someone else signs up as "ana".
    sign_up(accounts, "ana", "second")
    impostor = accounts.as_user(("ana", "second"))
    assert impostor.get("/").json["user"]["principals"] == [
        "account:ana",
        "system.Everyone",
        "system.Authenticated",
    ]
    assert impostor.get(factories.RECORDS).status == 403
    assert impostor.get("/buckets/other").status == 403
