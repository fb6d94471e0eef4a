"""`POST /__flush__` (spec/07): erases every object, ACL, membership and cached value."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from kinto_django.core.signals import server_flushed
from kinto_django.permissions.models import Grant, Membership
from tests import factories
from tests.conftest import Api
from tests.core.test_settings import PRODUCTION, import_settings


@pytest.fixture
def flushable(api, kinto_settings) -> Api:
    kinto_settings(
        flush_endpoint_enabled=True,
        auth_policies="account basicauth",
        account_create_principals="system.Everyone",
    )
    return api


def flush(api: Api):
    return api.post("/v1/__flush__", user=None)


def test_absent_unless_enabled(api):
    response = flush(api)
    assert response.status == 404
    assert response.json["errno"] == 111
    assert "flush_endpoint" not in api.get("/").json["capabilities"]


@pytest.mark.parametrize(
    "values",
    [{"flush_endpoint_enabled": "true"}, {"includes": "kinto.plugins.flush"}],
)
def test_capability(api, kinto_settings, values):
    kinto_settings(**values)
    capability = api.get("/").json["capabilities"]["flush_endpoint"]
    assert set(capability) == {"description", "url"}
    assert flush(api).status == 202


def test_answers_202_with_an_empty_object_without_authentication(flushable):
    response = flushable.post("/v1/__flush__", user=None, content_type="text/plain")
    assert response.status == 202
    assert response.json == {}


def test_only_post(flushable):
    response = flushable.get("/v1/__flush__")
    assert response.status == 405
    assert response.headers["Allow"] == "POST, OPTIONS"


def test_without_version_prefix_redirects(flushable):
    response = flushable.post("/__flush__", user=None)
    assert response.status == 307
    assert response.headers["Location"] == "http://testserver/v1/__flush__"


def test_refused_on_read_only_servers(flushable, kinto_settings):
    factories.bucket(flushable)
    kinto_settings(readonly=True)
    assert flush(flushable).status == 405
    assert [b["id"] for b in flushable.get("/buckets").data] == ["shop"]


def populate(api: Api) -> None:
    """Objects of every type, shared with bob directly and through a group, and an account."""
    bob = api.as_user("bob").get("/").json["user"]["id"]
    factories.collection(api, permissions={"read": [bob]})
    factories.group(api, "friends", members=[bob])
    factories.record(
        api, {"n": 1}, record_id="r1", permissions={"write": ["/buckets/shop/groups/friends"]}
    )
    assert api.put("/accounts/ana", {"data": {"password": "pw"}}, user=None).status == 201


def test_erases_every_object(flushable):
    populate(flushable)
    assert flush(flushable).status == 202
    assert flushable.get("/buckets").data == []
    assert flushable.get("/buckets/shop").status == 403
    factories.collection(flushable)
    assert flushable.get("/buckets/shop/collections/orders/records").data == []
    assert flushable.get("/buckets/shop/groups").data == []


def test_old_credentials_and_acls_grant_nothing(flushable):
    populate(flushable)
    bob = flushable.as_user("bob")
    ana = flushable.as_user(("ana", "pw"))
    assert ana.get("/").json["user"]["id"] == "account:ana"
    assert "/buckets/shop/groups/friends" in bob.get("/").json["user"]["principals"]
    assert flush(flushable).status == 202
    # The account is gone: the same credentials are only a basicauth user now.
    assert ana.get("/").json["user"]["id"].startswith("basicauth:")
    assert "/buckets/shop/groups/friends" not in bob.get("/").json["user"]["principals"]
    # Objects created again under the same ids inherit none of the old grants.
    factories.collection(flushable)
    factories.group(flushable, "friends")
    factories.record(flushable, record_id="r1")
    assert bob.get("/buckets/shop/collections/orders").status == 403
    assert bob.get("/buckets/shop/collections/orders/records/r1").status == 403
    assert bob.put("/buckets/shop/collections/orders/records/r1", {"data": {}}).status == 403
    shown = flushable.get("/buckets/shop/collections/orders/records/r1").json["permissions"]
    assert shown == {"write": [flushable.get("/").json["user"]["id"]]}


def test_list_timestamps_start_again(flushable):
    future = 4102444800000  # a forced timestamp in 2100 becomes the list's ETag
    factories.bucket(flushable, data={"last_modified": future})
    assert flushable.get("/buckets").headers["ETag"] == f'"{future}"'
    assert flush(flushable).status == 202
    # A client polling with the old ETag learns that the list changed (it is now empty).
    response = flushable.get("/buckets", headers={"If-None-Match": f'"{future}"'})
    assert response.status == 200
    assert response.data == []
    assert int(response.headers["ETag"].strip('"')) < future


def test_keeps_a_host_sites_own_users_groups_and_permissions(flushable):
    """Only the API's tables are erased: the site's users (even without a password, as
    single sign-on users have), groups and guardian permissions stay."""
    User = get_user_model()
    admin = User.objects.create_user("host-admin", password="real-password")
    User.objects.create(username="sso-user", password="")
    editors = Group.objects.create(name="editors")
    site_grant = assign_perm("auth.change_group", admin, editors)
    populate(flushable)
    assert Grant.objects.exists() and Membership.objects.exists()
    assert flush(flushable).status == 202
    assert sorted(User.objects.values_list("username", flat=True)) == ["host-admin", "sso-user"]
    assert list(Group.objects.values_list("name", flat=True)) == ["editors"]
    assert list(UserObjectPermission.objects.all()) == [site_grant]
    assert not Grant.objects.exists()
    assert not Membership.objects.exists()


def test_sends_server_flushed_after_commit(flushable, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, **kwargs):
        received.append(sender)

    server_flushed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert flush(flushable).status == 202
        assert received == []
        for callback in callbacks:
            callback()
        assert len(received) == 1
    finally:
        server_flushed.disconnect(receiver)


def test_clears_the_cache(flushable, kinto_settings):
    kinto_settings(paginate_by=1)
    factories.collection(flushable)
    for n in range(2):
        factories.record(flushable, {"n": n})
    page = flushable.delete(factories.RECORDS)
    token_url = page.headers["Next-Page"].removeprefix("http://testserver")
    assert flush(flushable).status == 202
    factories.collection(flushable)
    # The single-use DELETE token lived in the cache.
    response = flushable.delete(token_url)
    assert response.status == 400
    assert "_token" in response.json["message"]


def test_production_refuses_the_flush_plugin_in_includes(tmp_path):
    result = import_settings(tmp_path, **PRODUCTION, KINTO_INCLUDES="kinto.plugins.flush")
    assert result.returncode != 0
    assert "Refusing to start in production mode" in result.stderr
    assert "erase all data" in result.stderr
