"""Accounts (spec/05): sign-up, login, owners and admins, and the hidden password hash."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.conftest import Api


@pytest.fixture
def accounts(kinto_settings, anonymous) -> Api:
    kinto_settings(
        auth_policies="account basicauth",
        account_create_principals="system.Everyone",
        account_write_principals="account:admin",
    )
    return anonymous


def sign_up(api: Api, account_id: str, password: str = "pw") -> dict:
    response = api.put(f"/accounts/{account_id}", {"data": {"password": password}}, user=None)
    assert response.status == 201, response
    return response.json


def test_endpoints_are_absent_unless_the_policy_is_enabled(anonymous):
    response = anonymous.put("/accounts/ana", {"data": {"password": "pw"}})
    assert response.status == 404
    assert response.json["errno"] == 111
    assert "accounts" not in anonymous.get("/").json["capabilities"]


def test_capability(accounts):
    assert accounts.get("/").json["capabilities"]["accounts"]["validation_enabled"] is False


def test_sign_up_then_log_in(accounts):
    created = sign_up(accounts, "ana", "s3cret")
    assert created["data"]["id"] == "ana"
    user = accounts.get("/", user=("ana", "s3cret")).json["user"]
    assert user["id"] == "account:ana"
    assert user["principals"][:3] == ["account:ana", "system.Everyone", "system.Authenticated"]


def test_a_wrong_password_falls_back_to_basicauth(accounts):
    sign_up(accounts, "ana", "s3cret")
    user = accounts.get("/", user=("ana", "wrong")).json["user"]
    assert user["id"].startswith("basicauth:")


def test_the_hash_never_leaves_the_server(accounts):
    created = sign_up(accounts, "ana", "s3cret")
    shown = created["data"]["password"]
    assert shown != "s3cret"
    assert "argon2" not in shown and "$" not in shown
    ana = accounts.as_user(("ana", "s3cret"))
    listed = ana.get("/accounts").data[0]["password"]
    assert listed == shown == ana.get("/accounts/ana").data["password"]
    # A metadata-only change keeps the password (and so the value shown).
    assert ana.patch("/accounts/ana", {"data": {"age": 3}}).data["password"] == shown
    # Changing the password changes the value shown.
    changed = ana.patch("/accounts/ana", {"data": {"password": "other"}}).data["password"]
    assert changed != shown


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "copy", "from": "/data/password", "path": "/data/h"}],
        [{"op": "move", "from": "/data/password", "path": "/data/h"}],
        [{"op": "test", "path": "/data/password", "value": "x"}],
    ],
)
def test_json_patch_never_reaches_the_hash(accounts, operations):
    """JSON-Patch works on what the account's owner sees: copying the password copies the
    digest shown, a failing `test` names no hash, and nothing stored or sent holds one."""
    created = sign_up(accounts, "carol", "s3cret")
    carol = accounts.as_user(("carol", "s3cret"))
    response = carol.patch(
        "/accounts/carol", operations, content_type="application/json-patch+json"
    )
    assert "argon2" not in response.content.decode()
    from kinto_django.accounts.models import Account

    stored = Account.objects.get(object_id="carol").data
    assert [key for key, value in stored.items() if "argon2" in str(value)] == ["password"]
    if response.status == 200 and "h" in response.data:
        assert response.data["h"] == created["data"]["password"]


def test_an_account_written_back_as_read_keeps_its_password(accounts):
    """Forms and the Kinto Admin send an object back as they read it: the digest shown as
    `password` is not a new password."""
    sign_up(accounts, "dave", "s3cret")
    dave = accounts.as_user(("dave", "s3cret"))
    read = dave.get("/accounts/dave").data
    written = dave.put("/accounts/dave", {"data": {**read, "nickname": "d"}})
    assert written.status == 200
    assert written.data["password"] == read["password"]
    assert accounts.get("/", user=("dave", "s3cret")).json["user"]["id"] == "account:dave"
    assert accounts.get("/", user=("dave", read["password"])).json["user"]["id"] != (
        "account:dave"
    )


def test_password_hash_cannot_be_probed_with_filters_or_sorts(accounts):
    sign_up(accounts, "ana")
    ana = accounts.as_user(("ana", "pw"))
    for query in ("like_password=argon2*", "password=x", "_sort=password", "has_password=true"):
        response = ana.get(f"/accounts?{query}")
        assert response.status == 400, query
        assert response.json["errno"] == 107


def test_post_requires_id_and_password(accounts):
    response = accounts.post("/accounts", {"data": {"password": "pw"}})
    assert response.status == 400
    assert response.json["message"] == "data.id in body: Required"
    response = accounts.post("/accounts", {"data": {"id": "bob"}})
    assert response.status == 400
    assert response.json["message"] == "data.password in body: Required"
    response = accounts.put("/accounts/bob", {"data": {"password": 3}})
    assert response.status == 400
    assert response.json["details"][0]["name"] == "data.password"


def test_invalid_account_id(accounts):
    response = accounts.put("/accounts/a%20b", {"data": {"password": "pw"}})
    assert response.status == 400
    assert response.json["message"] == "path: Invalid object id"
    assert sign_up(accounts, "ana.b+c@example.com")["data"]["id"] == "ana.b+c@example.com"


def test_post_of_an_existing_account(accounts):
    sign_up(accounts, "ana")
    assert accounts.post("/accounts", {"data": {"id": "ana", "password": "x"}}).status == 401
    response = accounts.post(
        "/accounts", {"data": {"id": "ana", "password": "x"}}, user=("ana", "pw")
    )
    assert response.status == 200
    assert response.json["permissions"] == {"write": ["account:ana"]}


def test_owner_and_strangers(accounts):
    sign_up(accounts, "ana")
    sign_up(accounts, "zed")
    ana = accounts.as_user(("ana", "pw"))
    assert [a["id"] for a in ana.get("/accounts").data] == ["ana"]
    assert ana.get("/accounts/zed").status == 403
    assert ana.get("/accounts/unknown").status == 403
    assert ana.patch("/accounts/zed", {"data": {"password": "x"}}).status == 403
    assert ana.delete("/accounts/zed").status == 403
    response = ana.put("/accounts/zed", {"data": {"password": "x"}})
    assert response.status == 400
    assert response.json["message"] == "data.id in body: Username and account ID do not match."
    # A basicauth user cannot create accounts for others either.
    response = accounts.put("/accounts/newbie", {"data": {"password": "x"}}, user=("joe", "pw"))
    assert response.status == 400


def test_anonymous_reads(accounts):
    sign_up(accounts, "ana")
    response = accounts.get("/accounts")
    assert response.status == 401
    assert response.json == {"code": 401, "errno": 999, "error": "Cannot read accounts."}
    assert accounts.get("/accounts/ana").status == 401


def test_conditional_creation_reveals_nothing_to_strangers(accounts):
    sign_up(accounts, "ana")
    response = accounts.put(
        "/accounts/ana", {"data": {"password": "x"}}, headers={"If-None-Match": "*"}
    )
    assert response.status == 412
    assert "details" not in response.json


def test_changing_the_password_revokes_the_old_one_at_once(accounts):
    sign_up(accounts, "ana", "old")
    ana = accounts.as_user(("ana", "old"))
    assert ana.get("/accounts/ana").status == 200  # also caches the verification
    assert ana.patch("/accounts/ana", {"data": {"password": "new"}}).status == 200
    assert ana.get("/accounts/ana").status == 403  # now a basicauth stranger
    assert accounts.get("/accounts/ana", user=("ana", "new")).status == 200


def test_deleting_the_account_revokes_its_credentials(accounts):
    sign_up(accounts, "ana")
    ana = accounts.as_user(("ana", "pw"))
    assert ana.get("/").json["user"]["id"] == "account:ana"
    assert ana.delete("/accounts/ana").json["data"]["deleted"] is True
    assert ana.get("/").json["user"]["id"].startswith("basicauth:")


def test_admins_manage_every_account(accounts):
    call_command("kinto_create_account", "admin", "--password", "adm")
    sign_up(accounts, "ana")
    admin = accounts.as_user(("admin", "adm"))
    assert sorted(a["id"] for a in admin.get("/accounts").data) == ["admin", "ana"]
    created = admin.put("/accounts/newbie", {"data": {"password": "x"}})
    assert created.status == 201
    assert created.json["permissions"] == {}  # the new account owns itself, not the admin
    assert admin.patch("/accounts/ana", {"data": {"password": "reset"}}).status == 200
    assert accounts.get("/", user=("ana", "reset")).json["user"]["id"] == "account:ana"
    assert admin.delete("/accounts/newbie").status == 200


def test_accounts_share_data_like_any_user(accounts, api):
    sign_up(accounts, "ana")
    sign_up(accounts, "bob")
    ana = accounts.as_user(("ana", "pw"))
    assert ana.put("/buckets/shared").status == 201
    assert ana.put("/buckets/shared/collections/notes").status == 201
    bob = accounts.as_user(("bob", "pw"))
    assert bob.get("/buckets/shared/collections/notes/records").status == 403
    ana.patch("/buckets/shared/collections/notes", {"permissions": {"read": ["account:bob"]}})
    assert bob.get("/buckets/shared/collections/notes/records").status == 200


def test_management_commands(accounts):
    call_command("kinto_create_account", "ops", password="first")
    assert accounts.get("/", user=("ops", "first")).json["user"]["id"] == "account:ops"
    call_command("kinto_set_password", "ops", password="second")
    assert accounts.get("/", user=("ops", "first")).json["user"]["id"].startswith("basicauth:")
    assert accounts.get("/", user=("ops", "second")).json["user"]["id"] == "account:ops"
    with pytest.raises(Exception, match="already exists"):
        call_command("kinto_create_account", "ops", password="x")
    with pytest.raises(Exception, match="No account"):
        call_command("kinto_set_password", "nobody", password="x")


def test_sign_up_response_shows_the_account_acl(accounts):
    created = sign_up(accounts, "ana")
    assert created["permissions"] == {"write": ["account:ana"]}


def test_a_deleted_account_leaves_its_groups(accounts):
    """Its principal leaves every group's `members` (a visible update: new timestamp), so
    that a later sign-up under the same name is not a member, even after the group is
    edited again (memberships are rebuilt from `members`)."""
    sign_up(accounts, "owner")
    sign_up(accounts, "bob")
    owner = accounts.as_user(("owner", "pw"))
    assert owner.put("/buckets/club").status == 201
    group = "/buckets/club/groups/friends"
    before = owner.put(group, {"data": {"members": ["account:bob", "carol"]}}).json["data"]
    bob = accounts.as_user(("bob", "pw"))
    assert group in bob.get("/").json["user"]["principals"]
    assert bob.delete("/accounts/bob").status == 200
    after = owner.get(group).json["data"]
    assert after["members"] == ["carol"]
    assert after["last_modified"] > before["last_modified"]
    assert owner.get(group).json["permissions"] == {"write": ["account:owner"]}  # no grant
    sign_up(accounts, "bob", "other")
    newcomer = accounts.as_user(("bob", "other"))
    owner.patch(group, {"data": {"title": "Friends"}})
    assert group not in newcomer.get("/").json["user"]["principals"]


def test_nobody_signs_up_as_a_named_admin(accounts):
    """`account_write_principals = account:admin` (the README's example): a stranger who
    signs up first as `admin` is refused; the operator creates the account."""
    assert accounts.put("/accounts/admin", {"data": {"password": "x"}}).status == 403
    assert accounts.post("/accounts", {"data": {"id": "admin", "password": "x"}}).status == 403
    assert accounts.put("/accounts/other", {"data": {"password": "x"}}).status == 201
    call_command("kinto_create_account", "admin", "--password", "admin-pw")
    admin = accounts.as_user(("admin", "admin-pw"))
    assert admin.get("/accounts/other").status == 200
    # Its owner may still replace the account (it exists).
    assert admin.put("/accounts/admin", {"data": {"password": "admin-pw2"}}).status == 200


def test_bare_ids_in_account_settings_are_reported(kinto_settings):
    from django.core.checks import run_checks

    kinto_settings(account_write_principals="admin account:root system.Authenticated")
    errors = [m for m in run_checks() if m.id == "kinto_accounts.E002"]
    assert [m.msg for m in errors] == [
        "account_write_principals lists 'admin', which is no principal."
    ]


def test_a_login_to_a_missing_account_costs_a_password_check(accounts, monkeypatch):
    """Whether an account exists must not show in the time a login takes: a missing one is
    checked against a hash too."""
    from kinto_django.accounts import passwords

    sign_up(accounts, "erin", "s3cret")
    checks = []
    original = passwords.check_password
    monkeypatch.setattr(
        passwords, "check_password", lambda *args: checks.append(args) or original(*args)
    )
    accounts.get("/", user=("erin", "wrong"))
    accounts.get("/", user=("nobody", "wrong"))
    assert len(checks) == 2
