"""Who the caller is: basic-auth user ids and principals (spec/05, spec/04)."""

import base64

import pytest

from tests import factories

SPEC_USER_ID = "basicauth:419510af712288ddb339ec4dd9e526c79badd7c9506dae065f7027d3a066b8a0"


@pytest.fixture
def spec_secret(kinto_settings):
    kinto_settings(userid_hmac_secret="some-secret")


def test_basicauth_user_id_is_the_hmac_of_user_and_password(anonymous, spec_secret):
    response = anonymous.get("/", user=("alice", "s3cr3t"))
    assert response.json["user"]["id"] == SPEC_USER_ID
    assert response.json["user"]["principals"] == [
        SPEC_USER_ID,
        "system.Everyone",
        "system.Authenticated",
    ]


def test_another_password_is_another_user(anonymous, spec_secret):
    response = anonymous.get("/", user=("alice", "other"))
    assert response.json["user"]["id"].startswith("basicauth:")
    assert response.json["user"]["id"] != SPEC_USER_ID


def test_the_secret_changes_the_user_id(anonymous, kinto_settings):
    kinto_settings(userid_hmac_secret="another-secret")
    response = anonymous.get("/", user=("alice", "s3cr3t"))
    assert response.json["user"]["id"] != SPEC_USER_ID


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(b":password").decode(),  # empty user name
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),  # not UTF-8
        "Bearer some-token",
        "Basic",
    ],
)
def test_unusable_credentials_are_anonymous_not_an_error(anonymous, header):
    response = anonymous.get("/", headers={"Authorization": header})
    assert response.status == 200
    assert "user" not in response.json


def test_unusable_credentials_on_a_protected_endpoint_get_401(anonymous):
    response = anonymous.get("/buckets", headers={"Authorization": "Basic !!!"})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Realm"'
    assert response.json == {
        "code": 401,
        "errno": 104,
        "error": "Unauthorized",
        "message": "Please authenticate yourself to use this endpoint.",
    }


def test_basicauth_capability_only_when_the_policy_is_enabled(anonymous, kinto_settings):
    assert "basicauth" in anonymous.get("/").json["capabilities"]
    kinto_settings(auth_policies="")
    assert "basicauth" not in anonymous.get("/").json["capabilities"]
    # Without any policy, credentials are ignored.
    assert "user" not in anonymous.get("/", user="alice").json


def user_id(api, user):
    return api.get("/", user=user).json["user"]["id"]


def test_group_membership_is_a_principal_from_the_next_request(api):
    factories.bucket(api)
    bob = user_id(api, "bob")
    factories.group(api, "staff", members=[bob])
    principals = api.get("/", user="bob").json["user"]["principals"]
    assert "/buckets/shop/groups/staff" in principals
    assert principals[0] == bob


def test_system_authenticated_member_makes_every_user_a_member(api, anonymous):
    factories.bucket(api)
    factories.group(api, "everybody", members=["system.Authenticated"])
    assert (
        "/buckets/shop/groups/everybody" in api.get("/", user="carol").json["user"]["principals"]
    )
    assert "user" not in anonymous.get("/").json


def test_removing_a_member_revokes_the_group_principal(api):
    factories.bucket(api)
    bob = user_id(api, "bob")
    factories.group(api, "staff", members=[bob])
    api.patch("/buckets/shop/groups/staff", {"data": {"members": []}})
    assert "/buckets/shop/groups/staff" not in api.get("/", user="bob").json["user"]["principals"]


def test_deleting_the_group_or_its_bucket_revokes_the_principal(api):
    factories.bucket(api)
    bob = user_id(api, "bob")
    factories.group(api, "staff", members=[bob])
    factories.group(api, "admins", members=[bob])
    assert api.delete("/buckets/shop/groups/staff").status == 200
    principals = api.get("/", user="bob").json["user"]["principals"]
    assert "/buckets/shop/groups/staff" not in principals
    assert "/buckets/shop/groups/admins" in principals
    assert api.delete("/buckets/shop").status == 200
    assert "/buckets/shop/groups/admins" not in api.get("/", user="bob").json["user"]["principals"]


def test_group_principal_grants_access(api):
    factories.collection(api)
    bob = user_id(api, "bob")
    assert api.get(factories.RECORDS, user="bob").status == 403
    factories.group(api, "staff", members=[bob])
    api.patch(factories.COLLECTION, {"permissions": {"read": ["/buckets/shop/groups/staff"]}})
    assert api.get(factories.RECORDS, user="bob").status == 200
