"""`account_login_max_failures_per_minute` as operators set it: a string from the environment
or an INI file."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.core.api.test_cache_outage import UNREACHABLE_REDIS


@pytest.fixture
def accounts(kinto_settings, anonymous) -> Api:
    kinto_settings(
        auth_policies="account",
        account_create_principals="system.Everyone",
        account_login_max_failures_per_minute="2",
    )
    for account_id in ("ana", "eve"):
        created = anonymous.put(f"/accounts/{account_id}", {"data": {"password": "right"}})
        assert created.status == 201, created
    return anonymous


def user_id(api: Api, account_id: str, password: str) -> str | None:
    response = api.get("/", user=(account_id, password))
    assert response.status == 200, response
    return response.json.get("user", {}).get("id")


def test_logins_are_refused_after_too_many_failures(accounts):
    assert user_id(accounts, "eve", "wrong") is None
    assert user_id(accounts, "eve", "wrong") is None
    # The limit is reached: even the right password is not checked within the minute.
    assert user_id(accounts, "eve", "right") is None
    assert accounts.get("/accounts/eve", user=("eve", "right")).status == 401
    # Other accounts are not affected.
    assert user_id(accounts, "ana", "right") == "account:ana"


def test_failures_below_the_limit_do_not_lock_out(accounts):
    assert user_id(accounts, "eve", "wrong") is None
    assert user_id(accounts, "eve", "right") == "account:eve"


def test_logins_keep_working_while_the_cache_is_down(accounts, settings, caplog):
    """With `cache_url` on a Redis that is down, accounts still log in (each check hashes the
    password), wrong passwords are still refused, and password changes still apply."""
    settings.CACHES = UNREACHABLE_REDIS
    assert user_id(accounts, "ana", "right") == "account:ana"
    assert user_id(accounts, "ana", "wrong") is None
    changed = accounts.patch("/accounts/ana", {"data": {"password": "new"}}, user=("ana", "right"))
    assert changed.status == 200, changed
    assert user_id(accounts, "ana", "right") is None
    assert user_id(accounts, "ana", "new") == "account:ana"
    assert "Account cache unavailable" in caplog.text


def login(client_address: str, account_id: str, password: str) -> str | None:
    """`GET /` from a given client address (as the server sees it)."""
    import base64

    from django.test import Client

    token = base64.b64encode(f"{account_id}:{password}".encode()).decode()
    response = Client().get(
        "/v1/", HTTP_AUTHORIZATION=f"Basic {token}", REMOTE_ADDR=client_address
    )
    return response.json().get("user", {}).get("id")


def test_a_stranger_cannot_lock_the_owner_out(accounts):
    """Failures are counted per client address: a stranger who exhausts eve's attempts from
    its address does not stop eve, elsewhere, from logging in."""
    for _ in range(3):
        assert login("203.0.113.66", "eve", "guess") is None
    assert login("203.0.113.66", "eve", "right") is None  # that client is held off
    assert login("198.51.100.7", "eve", "right") == "account:eve"


def test_parallel_guesses_get_no_more_checks_than_the_limit(settings, kinto_settings):
    """Attempts are counted before the (slow) check: sixteen guesses at once against a limit
    of 5 get 5 password checks, not one per guess that found the counter low."""
    import threading
    import time

    from kinto_django.accounts import passwords

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    kinto_settings(account_login_max_failures_per_minute="5")
    checks = []

    def slow_wrong(password, stored):
        checks.append(password)
        time.sleep(0.05)
        return False

    original = passwords.check_password
    passwords.check_password = slow_wrong
    try:
        guesses = [
            threading.Thread(target=passwords.verify, args=("eve", f"g{i}", "hash", "client"))
            for i in range(16)
        ]
        for guess in guesses:
            guess.start()
        for guess in guesses:
            guess.join()
    finally:
        passwords.check_password = original
    assert len(checks) == 5
