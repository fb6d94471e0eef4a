"""Accounts in the admin: passwords hashed like the API does, never shown nor searchable."""

from __future__ import annotations

import json

import pytest

from kinto_django.accounts.models import Account
from tests.core.admin.conftest import admin_url, form_errors


@pytest.fixture
def accounts(api, kinto_settings):
    kinto_settings(auth_policies="account")
    return api


def create(staff, account_id, password, data="{}"):
    return staff.post(
        admin_url(Account, "add"),
        {"object_id": account_id, "password": password, "data": data, "permissions": "{}"},
    )


def test_created_account_logs_in_and_owns_itself(staff, accounts):
    response = create(staff, "ana", "s3cret", '{"name": "Ana"}')
    assert response.status_code == 302, form_errors(response)
    me = accounts.get("/accounts/ana", user=("ana", "s3cret"))
    assert me.status == 200
    assert me.data["name"] == "Ana"
    assert me.json["permissions"]["write"] == ["account:ana"]
    assert accounts.get("/accounts/ana", user=("ana", "wrong")).status == 401


def test_password_is_required_for_a_new_account(staff, accounts):
    assert "password" in form_errors(create(staff, "ana", ""))
    assert not Account.objects.exists()


def test_hash_is_never_shown_nor_searchable(staff, accounts):
    create(staff, "ana", "s3cret")
    account = Account.objects.get(object_id="ana")
    stored = account.data["password"]
    page = staff.get(admin_url(Account, "change", account.pk))
    text = page.content.decode()
    assert stored not in text and stored[:20] not in text
    assert "s3cret" not in text
    assert json.loads(page.context["adminform"].form["data"].value()) == {}
    listing = staff.get(admin_url(Account, "changelist"), {"q": stored[:12]})
    assert list(listing.context["cl"].result_list) == []
    assert [
        a.object_id
        for a in staff.get(admin_url(Account, "changelist"), {"q": "an"}).context["cl"].result_list
    ] == ["ana"]


def test_password_changes_only_when_typed(staff, accounts):
    create(staff, "ana", "s3cret")
    account = Account.objects.get(object_id="ana")
    url = admin_url(Account, "change", account.pk)

    def save(password, data):
        current = Account.objects.get(pk=account.pk)
        form = {
            "password": password,
            "data": data,
            "permissions": '{"write": ["account:ana"]}',
            "seen_last_modified": current.last_modified,
        }
        response = staff.post(url, form)
        assert response.status_code == 302, form_errors(response)

    save("", '{"name": "Ana"}')
    assert accounts.get("/accounts/ana", user=("ana", "s3cret")).data["name"] == "Ana"
    save("n3w", '{"name": "Ana"}')
    assert accounts.get("/accounts/ana", user=("ana", "s3cret")).status == 401
    assert accounts.get("/accounts/ana", user=("ana", "n3w")).status == 200


def test_password_in_the_data_is_refused(staff, accounts):
    errors = form_errors(create(staff, "ana", "s3cret", '{"password": "plain"}'))
    assert any("password" in error for error in errors["data"])
    assert not Account.objects.exists()
