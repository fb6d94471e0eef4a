"""Migration 0003 on a database written by the code before it (principals as rows of the
user and group tables, grants in guardian's tables): the same ACLs, members and access after
it, and the site's tables hold only the site's rows.

The earlier code is taken from this repository's history (`git archive`) and runs in its own
processes on the same database, as an upgrade does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from io import BytesIO
from pathlib import Path

import pytest

from tests.e2e.server import ROOT, PostgresDatabase, is_postgresql

# The last commit that stored principals in the user and group tables.
BEFORE = "4709f911995401f73191679cc5111175bc3e0cd8"
DATASET = Path(__file__).with_name("principals_dataset.py")

pytestmark = pytest.mark.slow


def checkout(commit: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "kinto_django", "kinto_project", "manage.py"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(code: Path, storage_url: str, *args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "DJANGO_SETTINGS_MODULE": "kinto_project.settings",
        "KINTO_STORAGE_URL": storage_url,
        "KINTO_AUTH_POLICIES": "account basicauth",
        "KINTO_ACCOUNT_CREATE_PRINCIPALS": "system.Everyone",
        "KINTO_BUCKET_CREATE_PRINCIPALS": "system.Authenticated",
    }
    env.pop("KINTO_INI", None)
    done = subprocess.run(
        [sys.executable, *args], cwd=code, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_an_installation_keeps_its_acls_and_its_site_tables_lose_the_principals(tmp_path):
    try:
        old = checkout(BEFORE, tmp_path / "before")
    except subprocess.CalledProcessError as error:
        pytest.fail(f"this test needs the repository's history: {error.stderr!r}")
    requested = os.environ.get("KINTO_STORAGE_URL", "")
    database = None
    if is_postgresql(requested):
        database = PostgresDatabase(requested, f"premove{uuid.uuid4().hex[:6]}")
        database.create()
        storage_url = database.url
    else:
        storage_url = f"sqlite:///{tmp_path / 'kinto.sqlite3'}"
    try:
        run(old, storage_url, "manage.py", "migrate", "-v0")
        run(old, storage_url, "manage.py", "createcachetable")
        run(old, storage_url, str(DATASET), "populate")
        before = json.loads(run(old, storage_url, str(DATASET), "observe"))
        # What the earlier layout put in the site's tables.
        assert "account:ana" in before["site users"] and "django:bob" in before["site users"]
        assert "system.Authenticated" in before["site groups"]

        run(ROOT, storage_url, "manage.py", "migrate", "-v0")
        after = json.loads(run(ROOT, storage_url, str(DATASET), "observe"))
    finally:
        if database is not None:
            database.drop()

    site_tables = ("site users", "site groups", "site guardian permissions")
    assert {k: v for k, v in after.items() if k not in site_tables} == {
        k: v for k, v in before.items() if k not in site_tables
    }
    assert after["ana writes r1 through the group"] == 200
    # Only the site's own rows are left; `bare` (a group member named like a site user)
    # cannot be told apart from one, and stays.
    assert after["site users"] == ["bare", "siteadmin", "sso"]
    assert after["site groups"] == ["editors"]
    assert after["site guardian permissions"] == 1
