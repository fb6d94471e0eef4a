"""`manage.py kinto_wait_for_services`: wait until the database (and Redis, when the channel
layer or cache uses it) answers, before migrating and serving. A server started before
PostgreSQL or Redis is up then waits with a clear line each few seconds, instead of failing
at its first query and being restarted in a loop."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections


def database_error(alias: str) -> str | None:
    """Why the database cannot be reached, or None when it answers."""
    connection = connections[alias]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
        connection.close()
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def redis_urls() -> list[str]:
    """The Redis servers the channel layer uses (`KINTO_REDIS_URL`)."""
    urls = []
    for layer in getattr(settings, "CHANNEL_LAYERS", {}).values():
        for host in layer.get("CONFIG", {}).get("hosts", []):
            address = host.get("address") if isinstance(host, dict) else host
            if isinstance(address, str):
                urls.append(address)
    return urls


def redis_error(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return str(exc) or type(exc).__name__
    return None


class Command(BaseCommand):
    help = "Wait until the database and Redis answer (bin/serve runs it before migrating)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--timeout", type=float, default=60.0, help="seconds to wait at most (default 60)"
        )
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between tries")

    def handle(self, *args: Any, timeout: float, interval: float, **options: Any) -> None:
        deadline = time.monotonic() + timeout
        checks = [("database", lambda: database_error("default"))]
        checks += [(f"Redis {u.split('@')[-1]}", lambda u=u: redis_error(u)) for u in redis_urls()]
        for name, check in checks:
            attempt = 0
            while (error := check()) is not None:
                attempt += 1
                if time.monotonic() >= deadline:
                    raise CommandError(f"The {name} did not answer within {timeout:g} s: {error}")
                self.stderr.write(f"Waiting for the {name} (attempt {attempt}): {error}")
                time.sleep(interval)
            if attempt:
                self.stderr.write(f"The {name} answers.")
