"""Health checks (spec/06): `__heartbeat__` checks every backend concurrently, each within
a timeout; `__lbheartbeat__` only says that the process answers."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse

from kinto_django.conf import kinto_settings
from kinto_django.core import capabilities
from kinto_django.core.api.endpoints.utility import UtilityView
from kinto_django.core.api.responses import json_response


def check_storage() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1


def check_permission_store() -> bool:
    from django.contrib.auth.models import Group

    Group.objects.exists()
    return True


def check_cache() -> bool:
    key = f"kinto:heartbeat:{os.getpid()}"
    cache.set(key, "ok", 10)
    return cache.get(key) == "ok"


def guarded(check: Callable[[], Any]) -> bool | None:
    """Run one check in a worker thread: any error means unhealthy; `None` means "no opinion"."""
    try:
        result = check()
        healthy = None if result is None else bool(result)
    except Exception:  # noqa: BLE001 - any failure means "unhealthy"
        healthy = False
    try:
        connection.close()  # the worker thread's own connection
    except Exception:  # noqa: BLE001 - a broken connection is already reported above
        pass
    return healthy


def run_checks(checks: dict[str, Callable[[], Any]], timeout: float) -> dict[str, bool | None]:
    """Run the checks concurrently; one that has not answered within `timeout` seconds is
    reported as failed without waiting for it (a hung backend must not hang the heartbeat)."""
    pool = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="heartbeat")
    try:
        futures = {name: pool.submit(guarded, check) for name, check in checks.items()}
        done, _ = wait_futures(futures.values(), timeout=timeout)
        return {
            name: future.result() if future in done else False for name, future in futures.items()
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def heartbeat_checks() -> dict[str, Callable[[], Any]]:
    return {
        "storage": check_storage,
        "permission": check_permission_store,
        "cache": check_cache,
        **capabilities.heartbeats(),
    }


class HeartbeatView(UtilityView):
    """`GET /__heartbeat__`: 503 if a backend fails or does not answer within the timeout."""

    def get(self, request: Any) -> HttpResponse:
        results = run_checks(heartbeat_checks(), kinto_settings.heartbeat_timeout_seconds)
        status = 200 if all(value is not False for value in results.values()) else 503
        return json_response(results, status)


class LBHeartbeatView(UtilityView):
    """`GET /__lbheartbeat__`: the process is up (no backend checked)."""

    def get(self, request: Any) -> HttpResponse:
        return json_response({})
