"""A database written before the apps moved into the `kinto_django` package still works.

`tests/fixtures/premove_*.sql.gz` were dumped from databases that commit 0d4f4ad (the last with
top-level packages `core`, `buckets`…) migrated, then filled through the API: accounts,
a bucket shared with another account, a group, a collection with a group grant, records (one
private, one deleted) and their history. The move kept every app label, so the migration
rows and content types must be read as they are: the same `showmigrations`, nothing to
migrate but what came later (the principals' move out of the user and group tables, which
`tests/permissions/test_principals_migration.py` checks in depth), and the same answers from
the API after `migrate`.
"""

from __future__ import annotations

import gzip
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import PostgresDatabase, is_postgresql

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

pytestmark = pytest.mark.e2e

# What the pre-move code printed for `showmigrations --list` on those databases (the project's
# apps, which is what the move could have changed).
PREMOVE_MIGRATIONS = {
    "kinto_accounts": ["0001_accounts"],
    "kinto_buckets": ["0001_initial"],
    "kinto_core": ["0001_initial"],
    "kinto_history": ["0001_initial"],
    "kinto_notifications": ["0001_outbox"],
    "kinto_permissions": ["0001_acl_object_index"],
    "kinto_records": ["0001_initial"],
}

# Reads through the API, run in the server's own settings against the restored database.
PROBE = """
import base64, json
import django
django.setup()
from django.test import Client

def get(path, user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    response = Client().get("/v1" + path, HTTP_AUTHORIZATION="Basic " + token)
    return response.status_code, response.json()

status, records = get("/buckets/shop/collections/orders/records", "bob", "hunter22")
status_private, _ = get("/buckets/shop/collections/orders/records/private", "bob", "hunter22")
_, collection = get("/buckets/shop/collections/orders", "alice", "s3cret")
_, history = get("/buckets/shop/history", "alice", "s3cret")
_, wrong = get("/buckets/shop", "bob", "wrong-password")
print(json.dumps({
    "status": status,
    "items": sorted(r.get("item", "-") for r in records["data"]),
    "private_for_bob": status_private,
    "collection_acl": collection["permissions"],
    "history": len(history["data"]),
    "wrong_password": wrong["code"],
}))
"""


def restore(tmp_path: Path, storage_url: str) -> tuple[str, PostgresDatabase | None]:
    """A new database holding the pre-move dump for this backend, and its URL."""
    if is_postgresql(storage_url):
        database = PostgresDatabase(storage_url, suffix="premove")
        database.create()
        import psycopg2

        connection = psycopg2.connect(database.url)
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(
                    gzip.decompress((FIXTURES / "premove_postgresql.sql.gz").read_bytes())
                )
        finally:
            connection.close()
        return database.url, database
    path = tmp_path / "premove.sqlite3"
    connection = sqlite3.connect(path)
    try:
        connection.executescript(
            gzip.decompress((FIXTURES / "premove_sqlite.sql.gz").read_bytes()).decode()
        )
    finally:
        connection.close()
    return f"sqlite:///{path}", None


def manage(storage_url: str, *args: str, script: str | None = None) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KINTO_")},
        "KINTO_STORAGE_URL": storage_url,
        "KINTO_AUTH_POLICIES": "account",
        "KINTO_HISTORY_ENABLED": "true",
        "DJANGO_SETTINGS_MODULE": "kinto_project.settings",
    }
    command = [sys.executable, "-c", script] if script else [sys.executable, "manage.py", *args]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def applied_migrations(showmigrations: str) -> dict[str, list[str]]:
    """`showmigrations --list` of the project's apps: label → applied migration names (those
    not applied yet are left out)."""
    applied: dict[str, list[str]] = {}
    label = None
    for line in showmigrations.splitlines():
        if not line.startswith(" "):
            label = line.strip()
        elif label and label.startswith("kinto_") and line.strip().startswith("[X] "):
            applied.setdefault(label, []).append(line.strip()[4:])
    return applied


@pytest.fixture
def premove_database(tmp_path):
    url, database = restore(tmp_path, os.environ.get("KINTO_STORAGE_URL", "sqlite:///"))
    yield url
    if database is not None:
        database.drop()


# Migrations written after the dumps were made.
LATER_MIGRATIONS = [
    # The attachments app came later (its ledger of stored files).
    "kinto_attachments.0001_stored_files",
    "kinto_permissions.0002_grants_and_memberships",
    "kinto_permissions.0003_principals_out_of_auth_tables",
]


def test_a_database_migrated_before_the_move_needs_only_later_migrations(premove_database):
    plan = manage(premove_database, "migrate", "--plan")
    planned = [line for line in plan.splitlines() if line.startswith("kinto_")]
    assert planned == LATER_MIGRATIONS
    applied = applied_migrations(manage(premove_database, "showmigrations", "--list"))
    # Every migration recorded before the move is known by the same label and name.
    for label, names in PREMOVE_MIGRATIONS.items():
        assert applied[label][: len(names)] == names


def test_the_api_serves_the_data_and_acls_written_before_the_move(premove_database):
    import json

    manage(premove_database, "migrate", "--noinput")
    result = json.loads(manage(premove_database, script=PROBE).strip().splitlines()[-1])
    assert result == {
        "status": 200,
        # Bob reads through the bucket's `read` ACL; `private` is readable by alice only
        # (listing it too: bucket readers see every record of the bucket).
        "items": ["-", "chair"],
        "private_for_bob": 200,
        "collection_acl": {
            "record:create": ["/buckets/shop/groups/staff"],
            "write": ["account:alice"],
        },
        "history": 7,
        "wrong_password": 401,
    }
