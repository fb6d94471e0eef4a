"""Backups of real servers (`manage.py kinto_backup` / `kinto_restore` next to gunicorn).

- backup → `POST /__flush__` → restore gives byte-identical responses (bodies, ETags,
  permissions, counts) on the backend under test;
- a SQLite server's backup restored into a PostgreSQL server answers request by request as
  the SQLite one did (PostgreSQL runs only; bodies compared as JSON, since PostgreSQL orders
  object keys its own way);
- writes keep succeeding while a backup holds its snapshot, and the backup shows none of
  them;
- a backup's peak memory does not grow with the number of records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PASSWORD
from tests.core.backup.test_backup import (
    ADMIN,
    COMPARED_HEADERS,
    PROBES,
    SERVER_SETTINGS,
    build_dataset,
    records_file,
    without_nonce,
)
from tests.e2e.server import ROOT, ServerProcess, is_postgresql

ADMIN_COMMAND = (ADMIN[0], "--password", ADMIN[1])

pytestmark = pytest.mark.e2e

SETTINGS = {**SERVER_SETTINGS, "log_level": "WARNING"}
STORAGE_URL = os.environ.get("KINTO_STORAGE_URL", "")
RECORDS = "/buckets/b/collections/c/records"


class Http:
    """Requests to a real server, as `build_dataset` and the probes send them."""

    def __init__(self, server: ServerProcess) -> None:
        self.url = server.url
        self.session = requests.Session()

    def request(
        self, method: str, path: str, body: Any = None, user: Any = "alice"
    ) -> requests.Response:
        auth = None if user is None else ((user, PASSWORD) if isinstance(user, str) else user)
        return self.session.request(
            method,
            self.url + path,
            data=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"} if body is not None else {},
            auth=auth,
            timeout=30,
        )

    def send(self, method: str, path: str, body: Any = None, user: Any = "alice") -> int:
        return self.request(method, path, body, user).status_code

    def probe(self) -> list[tuple]:
        """Status, protocol headers and exact body of every probe (see tests/core)."""
        seen = []
        for method, path, user in PROBES:
            response = self.request(method, path, user=user)
            headers = tuple(
                without_nonce(response.headers.get(name))
                if name == "Next-Page"
                else response.headers.get(name)
                for name in COMPARED_HEADERS
            )
            seen.append((method, path, response.status_code, headers, response.content))
        return seen

    def as_json(self, body: bytes) -> Any:
        """A body as JSON, without what names this server (its URL, its test identity)."""
        if not body:
            return None
        identity = self.request("GET", "/", user=None).json()["project_name"]
        text = body.decode().replace(self.url, "<server>").replace(identity, "<name>")
        return json.loads(text)

    def flush(self) -> None:
        assert self.request("POST", "/__flush__", user=None).status_code == 202


def manage(server: ServerProcess, *args: str, timeout: int = 600) -> str:
    """Run manage.py against the server's database; its output, or a failure showing it."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server.environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("backup-server"),
        workers=2,
        threads=4,
        settings=SETTINGS,
        database_suffix="e2e_backup",
    )
    with process:
        yield process


def test_backup_flush_restore_gives_identical_responses(server, tmp_path):
    http = Http(server)
    http.flush()
    build_dataset(http.send, lambda: server.manage("kinto_create_account", *ADMIN_COMMAND))
    before = http.probe()
    path = tmp_path / "backup.jsonl.gz"
    manage(server, "kinto_backup", "--tombstones", "--accounts", "--gzip", "--output", str(path))

    http.flush()
    # Not a list: reading an empty list would fix its timestamp, which a restore then keeps
    # (a list's timestamp never goes back).
    assert http.request("GET", "/buckets/shop").status_code == 403
    output = manage(server, "kinto_restore", str(path))

    assert "created" in output
    after = http.probe()
    for expected, got in zip(before, after, strict=True):
        assert got == expected


@pytest.mark.postgresql
@pytest.mark.skipif(
    not is_postgresql(STORAGE_URL),
    reason="restores into PostgreSQL (set KINTO_STORAGE_URL=postgresql://…)",
)
def test_a_sqlite_backup_restored_into_postgresql_answers_the_same(tmp_path_factory, tmp_path):
    sqlite = ServerProcess(
        tmp_path_factory.mktemp("sqlite-source"),
        storage_url="sqlite://",
        workers=1,
        threads=4,
        settings=SETTINGS,
    )
    postgres = ServerProcess(
        tmp_path_factory.mktemp("postgresql-target"),
        storage_url=STORAGE_URL,
        workers=1,
        threads=4,
        settings=SETTINGS,
        database_suffix="e2e_backup_target",
    )
    try:
        sqlite.start()
        postgres.start()
        assert (sqlite.backend, postgres.backend) == ("sqlite", "postgresql")
        source, target = Http(sqlite), Http(postgres)
        build_dataset(source.send, lambda: sqlite.manage("kinto_create_account", *ADMIN_COMMAND))
        path = tmp_path / "sqlite.jsonl"
        manage(sqlite, "kinto_backup", "--tombstones", "--accounts", "--output", str(path))
        manage(postgres, "kinto_restore", str(path))

        for expected, got in zip(source.probe(), target.probe(), strict=True):
            method, path_, status, headers, body = expected
            assert got[:4] == (method, path_, status, headers)
            # PostgreSQL stores JSON with its own key order: the same JSON, other bytes.
            assert target.as_json(got[4]) == source.as_json(body), path_
        again = tmp_path / "postgresql.jsonl"
        manage(postgres, "kinto_backup", "--tombstones", "--accounts", "--output", str(again))
        assert read(again)[1:] == read(path)[1:]
    finally:
        sqlite.stop()
        postgres.stop()


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_keep_succeeding_during_a_backup(server, tmp_path):
    http = Http(server)
    http.flush()
    manage(server, "kinto_restore", str(records_file(tmp_path, 4000)))
    list_etag = http.request("HEAD", RECORDS).headers["ETag"]
    backup = subprocess.Popen(
        [sys.executable, "manage.py", "kinto_backup", "--tombstones", "--quiet"],
        cwd=ROOT,
        env=server.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert backup.stdout is not None
        header = backup.stdout.readline()  # written once the snapshot is taken
        assert json.loads(header)["format"] == "kinto-backup"

        # The backup now waits on its full pipe, its snapshot open: the server must serve.
        writes = [
            ("PATCH", f"{RECORDS}/r000001", {"data": {"n": -1}}),
            ("DELETE", f"{RECORDS}/r000002", None),
            ("PUT", "/buckets/during", None),
            ("PUT", "/buckets/during/collections/x", {"data": {"a": 1}}),
        ]
        for method, path, body in writes:
            assert http.request(method, path, body).status_code in (200, 201), (method, path)
        assert backup.poll() is None  # the writes happened while the backup ran

        rest = backup.stdout.read()
        assert backup.wait(timeout=120) == 0
    finally:
        backup.kill()
        backup.wait()
    lines = [json.loads(line) for line in [header, *rest.splitlines()]]
    by_id = {line.get("id"): line for line in lines[1:] if line["kind"] == "record"}
    assert by_id["r000001"]["data"]["n"] == 1
    assert by_id["r000002"]["deleted"] is False
    assert not any(line.get("id") == "during" for line in lines[1:])
    records_list = next(
        line for line in lines[1:] if line["kind"] == "list" and line["resource"] == "record"
    )
    assert f'"{records_list["last_modified"]}"' == list_etag
    assert lines[-1]["counts"]["record"] == 4000
    # …and the server kept the writes.
    assert http.request("GET", f"{RECORDS}/r000001").json()["data"]["n"] == -1


# Peak RSS from /proc (VmHWM): getrusage's ru_maxrss would start from the forking test
# process's own size.
MEASURE = (
    "import re, sys, django\n"
    "django.setup()\n"
    "from django.core.management import call_command\n"
    "call_command('kinto_backup', '--quiet', '--output', '-')\n"
    "status = open('/proc/self/status').read()\n"
    "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1), file=sys.stderr)\n"
)


def backup_peak_rss_kb(server: ServerProcess) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE],
        cwd=ROOT,
        env={**server.environ(), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stderr.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_backup_memory_does_not_grow_with_the_records(tmp_path_factory, tmp_path):
    """Peak RSS of a whole backup process for 20,000 and for 100,000 records: streamed
    with ACLs read per chunk, the second is no bigger than the first (loosely: the data
    itself would add ~100 MB)."""
    database = ServerProcess(
        tmp_path_factory.mktemp("memory"), settings=SETTINGS, database_suffix="e2e_backup_memory"
    )
    try:
        if database.database is not None:
            database.database.create()
        manage(database, "migrate", "--noinput")
        manage(database, "kinto_restore", str(records_file(tmp_path, 20_000)))
        small = backup_peak_rss_kb(database)
        # The same 20,000 records and 80,000 more.
        manage(
            database,
            "kinto_restore",
            str(records_file(tmp_path, 100_000)),
            "--on-conflict",
            "skip",
        )
        large = backup_peak_rss_kb(database)
    finally:
        database.stop()
    assert large - small < 16 * 1024, (small, large)
