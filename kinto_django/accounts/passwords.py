"""Account passwords: slow hashes at rest, a short-lived verification cache, and the opaque
value shown in place of the hash.

Hashing uses Django's password hashers (Argon2 first in this project's settings), so a host
site's own `PASSWORD_HASHERS` apply when the app is embedded.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password
from django.core.cache import cache

from kinto_django.conf import as_int_or_none, kinto_settings

logger = logging.getLogger(__name__)


class Argon2Hasher(Argon2PasswordHasher):
    """Argon2id with OWASP's recommended cost (19 MiB, 2 passes): slow to brute force without
    Django's default 100 MiB per concurrent login."""

    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19456
    parallelism = 1


def hash_password(password: str) -> str:
    return make_password(password)


def _keyed(*parts: str) -> str:
    key = (kinto_settings.userid_hmac_secret or settings.SECRET_KEY).encode()
    return hmac.new(key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def public_digest(stored_hash: str) -> str:
    """What responses show as `password`: changes exactly when the password changes, but
    cannot be attacked offline without the server's secret."""
    return _keyed("password", stored_hash)


def _cache_key(account_id: str) -> str:
    return f"kinto:account:{_keyed('id', account_id)}"


def _failures_key(account_id: str, client: str) -> str:
    return f"kinto:account-failures:{_keyed('id', account_id, client)}"


def _cached(operation: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """A cache call that a cache outage (Redis down…) turns into `default`: logins keep
    working while it lasts, each one hashing the password and none counted as a failure."""
    try:
        return operation(*args)
    except Exception:  # noqa: BLE001 - whatever the cache backend raises when unreachable
        logger.warning("Account cache unavailable (%s)", operation.__name__, exc_info=True)
        return default


def _count_attempt(failures_key: str) -> int:
    """Count one more attempt of the minute, atomically, before the password is checked:
    parallel attempts cannot all pass a limit checked before any of them is counted."""
    cache.add(failures_key, 0, 60)
    try:
        return cache.incr(failures_key)
    except ValueError:  # expired between the two calls
        cache.set(failures_key, 1, 60)
        return 1


def verify(account_id: str, password: str, stored_hash: str, client: str = "") -> bool:
    """Check a password, trusting a recent successful check of the same one (cached).

    With `account_login_max_failures_per_minute`, attempts are counted per account and
    client address, before checking: past the limit, that client's attempts are refused
    unchecked until the minute is over, while the account's owner, elsewhere, still logs in.
    A success forgets the client's failures."""
    ttl = kinto_settings.get("account_cache_ttl_seconds", 30)
    proof = _keyed("verified", account_id, password, stored_hash)
    key = _cache_key(account_id)
    if ttl and _cached(cache.get, key) == proof:
        _cached(cache.touch, key, ttl)
        return True
    limit = kinto_settings.get("account_login_max_failures_per_minute", None, as_int_or_none)
    failures_key = _failures_key(account_id, client)
    if limit and _cached(_count_attempt, failures_key, default=0) > limit:
        logger.warning("Login refused for account %r: too many failures", account_id)
        return False
    if check_password(password, stored_hash):
        if ttl:
            _cached(cache.set, key, proof, ttl)
        if limit:
            _cached(cache.delete, failures_key)
        return True
    logger.warning("Failed login for account %r", account_id)
    return False


@functools.cache
def _dummy_hash() -> str:
    return make_password("no account has this password")


def check_against_nothing(password: str) -> None:
    """Hash a password for an account that does not exist, as a real check would."""
    check_password(password, _dummy_hash())


def forget(account_ids: list[str]) -> None:
    """Drop cached verifications at once (a changed password also changes the proof, so a
    verification cached before cannot match it even when the cache could not be reached)."""
    _cached(cache.delete_many, [_cache_key(account_id) for account_id in account_ids])
