"""A read-only node (`readonly = true`) on a database that refuses writes, as a hot standby
does: every read a client makes answers as on the primary, writes get the documented 405,
the heartbeat is healthy, and no statement that writes ever reaches the database (every
statement of every connection, the heartbeat's threads included, is recorded).

The real server on a read-only PostgreSQL connection is tests/e2e/test_readonly_node.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.backends.signals import connection_created

from tests import factories

PROJECT_DIR = Path(__file__).resolve().parents[2]
RECORDS = factories.RECORDS

# Statements a read may send: queries, and the savepoints Django wraps some reads in. A query
# must not lock rows nor, in a WITH, modify any.
READ_STATEMENT = re.compile(
    r"^\s*(SELECT|WITH|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I
)
WRITING = re.compile(
    r"\b(INSERT|UPDATE|DELETE)\b|\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)\b|pg_advisory", re.I
)


def settings_of_a_readonly_node(**env: str) -> dict[str, Any]:
    """`CACHES` of the settings module imported as a read-only node's server imports it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
    clean.update({"KINTO_READONLY": "true", **env})
    probe = "import json, kinto_project.settings as s; print(json.dumps(s.CACHES))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_readonly_node_keeps_its_cache_off_the_database():
    assert settings_of_a_readonly_node()["default"]["BACKEND"].endswith("LocMemCache")
    redis = settings_of_a_readonly_node(KINTO_CACHE_URL="redis://127.0.0.1:6379/3")
    assert redis["default"] == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/3",
    }


class StatementLog:
    """Every statement sent on the connections it is installed on."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self.lock:
            self.statements.append(sql)
        return execute(sql, params, many, context)

    def writes(self) -> list[str]:
        return [
            sql for sql in self.statements if not READ_STATEMENT.match(sql) or WRITING.search(sql)
        ]


def refuse_writes(db_connection, refuse: bool = True) -> None:
    """Make a connection behave like one to a hot standby (any write is an error), or not."""
    with db_connection.cursor() as cursor:
        if db_connection.vendor == "postgresql":
            mode = "READ ONLY" if refuse else "READ WRITE"
            cursor.execute(f"SET SESSION CHARACTERISTICS AS TRANSACTION {mode}")
        else:
            cursor.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


ANA = ("ana", "s3cret")
EVE = ("eve", "pw-of-eve")


@pytest.fixture
def primary(transactional_db, kinto_settings, anonymous) -> dict[str, Any]:
    """Data written while the node could still write: accounts, a shared collection with a
    tombstone among its records, a group, their history. Committed, as on a primary: the
    heartbeat's threads read with connections of their own."""
    kinto_settings(
        auth_policies="account basicauth",
        account_create_principals="system.Everyone",
        # As an environment variable gives it: a string.
        account_login_max_failures_per_minute="3",
        history_enabled="true",
        experimental_permissions_endpoint="true",
        paginate_by="2",
    )
    for account_id, password in (ANA, EVE):
        created = anonymous.put(f"/accounts/{account_id}", {"data": {"password": password}})
        assert created.status == 201, created
    ana = anonymous.as_user(ANA)
    factories.bucket(ana)
    factories.collection(ana, create_bucket=False, permissions={"read": ["system.Authenticated"]})
    ids = [
        factories.record(ana, {"n": n, "item": "lamp" if n % 2 else "desk"})["id"]
        for n in range(5)
    ]
    factories.record(ana, record_id="gone")
    assert ana.delete(f"{RECORDS}/gone").status == 200
    factories.group(ana, members=["account:ana"])
    factories.collection(ana, collection_id="empty", create_bucket=False)
    return {"ids": ids}


@pytest.fixture
def readonly_node(primary, kinto_settings, settings):
    """From here on the node is read-only, with a read-only node's cache, on connections
    that refuse writes; yields the log of the statements sent."""
    kinto_settings(readonly="true", event_dispatcher_in_server="true")
    settings.CACHES = settings_of_a_readonly_node()
    log = StatementLog()

    def on_connect(sender, connection, **kwargs):
        refuse_writes(connection)
        connection.execute_wrappers.append(log)

    refuse_writes(connection)
    connection_created.connect(on_connect)
    try:
        with connection.execute_wrapper(log):
            yield log
    finally:
        connection_created.disconnect(on_connect)
        refuse_writes(connection, False)  # the test database is emptied after the test


def test_the_database_really_refuses_writes(readonly_node):
    from django.contrib.auth.models import Group

    with pytest.raises(DatabaseError), transaction.atomic():
        Group.objects.create(name="written")
    assert readonly_node.writes()


def test_a_readonly_node_serves_every_read_and_writes_nothing(readonly_node, anonymous, primary):
    ana = anonymous.as_user(ANA)
    bob = anonymous.as_user("bob")  # basicauth

    root = anonymous.get("/")
    assert root.status == 200
    assert root.json["settings"]["readonly"] is True
    assert root.headers["Cache-Control"].startswith("max-age=")
    assert ana.get("/").json["user"]["id"] == "account:ana"
    assert ana.get("/").json["user"]["id"] == "account:ana"  # the cached password check

    heartbeat = anonymous.get("/v1/__heartbeat__")
    assert (heartbeat.status, heartbeat.json) == (
        200,
        # The attachments' storage is only read on a read-only node.
        {"storage": True, "permission": True, "cache": True, "attachments": True},
    )
    assert anonymous.get("/v1/__lbheartbeat__").status == 200

    assert [b["id"] for b in ana.get("/buckets").data] == ["shop"]
    assert sorted(c["id"] for c in ana.get("/buckets/shop/collections").data) == [
        "empty",
        "orders",
    ]

    # A sync: every change since 0, tombstone included, page after page.
    synced, url = [], f"{RECORDS}?_since=0"
    while url:
        page = ana.get(url)
        assert page.status == 200, page
        synced += page.data
        url = page.headers.get("Next-Page", "").replace("http://testserver", "")
    assert sorted(r["id"] for r in synced) == sorted([*primary["ids"], "gone"])
    assert next(r for r in synced if r["id"] == "gone")["deleted"] is True
    etag = page.headers["ETag"]
    assert ana.get(RECORDS, headers={"If-None-Match": etag}).status == 304
    since = max(r["last_modified"] for r in synced)
    assert etag == f'"{since}"'
    assert ana.get(f"{RECORDS}?_since={since}").data == []

    lamps = bob.get(f"{RECORDS}?item=lamp&_sort=-n&_fields=n")
    assert lamps.status == 200
    assert [r["n"] for r in lamps.data] == [3, 1]
    assert set(lamps.data[0]) == {"id", "last_modified", "n"}
    assert ana.head(RECORDS).headers["Total-Records"] == "5"

    record = bob.get(f"{RECORDS}/{primary['ids'][0]}")
    assert record.status == 200
    again = bob.get(
        f"{RECORDS}/{primary['ids'][0]}", headers={"If-None-Match": record.headers["ETag"]}
    )
    assert again.status == 304
    assert bob.get(f"{RECORDS}/gone").status == 404

    permissions = ana.get("/permissions")
    assert permissions.status == 200
    assert permissions.data
    assert all(entry["uri"].startswith("/buckets/shop") for entry in permissions.data)
    history = ana.get("/buckets/shop/history?resource_name=record&action=delete")
    assert history.status == 200
    assert [(e["action"], e["record_id"]) for e in history.data] == [("delete", "gone")]
    assert ana.get("/accounts/ana").status == 200

    # Failed logins are counted, in the node's own cache: after three within the minute, even
    # the right password is refused without checking (the credentials fall back to basicauth).
    for _ in range(3):
        assert (
            anonymous.get("/", user=("eve", "wrong")).json["user"]["id"].startswith("basicauth:")
        )
    assert anonymous.get("/", user=EVE).json["user"]["id"].startswith("basicauth:")

    # Writes, batches included, answer 405 errno 115.
    refused = [
        ana.put("/buckets/other"),
        ana.patch(f"{RECORDS}/{primary['ids'][0]}", {"data": {"n": 9}}),
        ana.delete(RECORDS),
        ana.post("/batch", {"requests": [{"path": "/buckets/shop"}]}),
        anonymous.put("/accounts/zoe", {"data": {"password": "pw"}}),
    ]
    assert [(r.status, r.json["errno"]) for r in refused] == [(405, 115)] * len(refused)

    assert readonly_node.statements, "the statement log saw nothing"
    assert readonly_node.writes() == []
    assert "kinto-event-dispatcher" not in {t.name for t in threading.enumerate()}


def test_a_list_never_read_nor_written_is_a_503(readonly_node, anonymous):
    """Its first read would have to fix its timestamp (spec/02): 503 errno 201, and still
    nothing written."""
    ana = anonymous.as_user(ANA)
    response = ana.get("/buckets/shop/collections/orders/records")
    assert response.status == 200
    fresh = ana.get("/buckets/shop/collections/empty/records")
    assert (fresh.status, fresh.json["errno"]) == (503, 201), fresh
    assert readonly_node.writes() == []
