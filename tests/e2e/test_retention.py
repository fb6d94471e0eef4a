"""Retention on a live server: `manage.py kinto_purge_deleted` and `manage.py kinto_purge_history` each
remove 100,000 old rows in batches while clients keep reading and writing, and never touch a
live object or a recent history entry."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from tests.e2e.server import ROOT, ServerProcess

pytestmark = pytest.mark.e2e

TOMBSTONES = 100_000
AUTH = ("alice", "secret")

# Run in the server's environment (`manage.py shell`): old tombstones and history entries
# written in bulk, far below every real timestamp (they stand for changes made long ago).
SEED = """
from kinto_django.records.models import Record
from kinto_django.buckets.models import Collection
collection = Collection.objects.get(object_id="c", bucket__object_id="b")
for start in range(1, {count} + 1, 10_000):
    Record.objects.bulk_create(
        [Record(collection=collection, object_id=f"gone-{{n}}", data={{}}, last_modified=n,
                deleted=True) for n in range(start, min(start + 10_000, {count} + 1))]
    )
"""
SEED_HISTORY = """
import json
from kinto_django.buckets.models import Bucket
from kinto_django.history.models import HistoryEntry
bucket = Bucket.objects.get(object_id="h")
entry = json.dumps({{"action": "update", "resource_name": "bucket", "uri": "/buckets/h",
                    "bucket_id": "h", "user_id": None, "date": "2001-01-01T00:00:00+00:00",
                    "target": {{"data": {{"id": "h"}}, "permissions": {{}}}}}})
for start in range(1, {count} + 1, 10_000):
    size = min(10_000, {count} + 1 - start)
    HistoryEntry.objects.insert(
        bucket.pk, start, [(f"old-{{start + n}}", entry, "[]") for n in range(size)]
    )
"""


@pytest.fixture(scope="module")
def retention_server(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(
        tmp_path_factory.mktemp("retention"),
        workers=2,
        threads=4,
        settings={"history_enabled": "true"},
        database_suffix="e2e_retention",
    )
    with process:
        yield process


def manage(server: ServerProcess, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=server.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_purge_deleted_on_a_live_server(retention_server):
    url = retention_server.url
    session = requests.Session()
    session.auth = AUTH
    assert session.put(f"{url}/buckets/b").status_code == 201
    assert session.put(f"{url}/buckets/b/collections/c").status_code == 201
    records = f"{url}/buckets/b/collections/c/records"
    live = [f"live-{n}" for n in range(50)]
    for record_id in live:
        assert session.put(f"{records}/{record_id}", json={"data": {"n": 1}}).status_code == 201
    seed = manage(retention_server, "shell", "-c", SEED.format(count=TOMBSTONES))
    assert seed.wait(timeout=300) == 0, seed.stdout.read()
    assert session.head(f"{records}?_since=0").status_code == 200

    statuses: list[int] = []
    slowest = 0.0
    done = threading.Event()

    def client() -> None:
        nonlocal slowest
        writer = requests.Session()
        writer.auth = AUTH
        while not done.is_set():
            for method, path, body in (
                ("GET", f"{records}?_limit=10", None),
                ("PUT", f"{records}/during-{uuid.uuid4().hex[:8]}", {"data": {}}),
                ("GET", f"{records}/live-7", None),
            ):
                started = time.monotonic()
                response = writer.request(method, path, json=body, timeout=60)
                slowest = max(slowest, time.monotonic() - started)
                statuses.append(response.status_code)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        purge = manage(retention_server, "kinto_purge_deleted", "--older-than", "1d")
        output, _ = purge.communicate(timeout=600)
    finally:
        done.set()
        thread.join(timeout=120)
    assert purge.returncode == 0, output
    assert f"record: {TOMBSTONES} tombstones removed" in output
    # Clients were served all along, and nothing failed.
    assert len(statuses) >= 10, (len(statuses), output)
    assert set(statuses) <= {200, 201}, statuses
    print(f"{len(statuses)} requests during the purge, slowest {slowest:.2f} s")
    listed = session.get(f"{records}?_since=0&_limit=10000").json()["data"]
    assert not [r for r in listed if r["id"].startswith("gone-")]
    assert sorted(r["id"] for r in listed if r["id"].startswith("live-")) == sorted(live)
    assert all(not r.get("deleted") for r in listed)


def test_purge_history_on_a_live_server(retention_server):
    url = retention_server.url
    session = requests.Session()
    session.auth = AUTH
    assert session.put(f"{url}/buckets/h").status_code == 201
    assert session.put(f"{url}/buckets/h/collections/c").status_code == 201
    seed = manage(retention_server, "shell", "-c", SEED_HISTORY.format(count=TOMBSTONES))
    assert seed.wait(timeout=300) == 0, seed.stdout.read()
    history = f"{url}/buckets/h/history"
    assert session.head(history).headers["Total-Objects"] == str(TOMBSTONES + 2)

    writes: list[int] = []
    done = threading.Event()

    def client() -> None:
        writer = requests.Session()
        writer.auth = AUTH
        while not done.is_set():
            path = f"{url}/buckets/h/collections/c/records/{uuid.uuid4().hex[:8]}"
            writes.append(writer.put(path, json={"data": {}}, timeout=60).status_code)
            writes.append(writer.get(f"{history}?_limit=5", timeout=60).status_code)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        purge = manage(
            retention_server, "kinto_purge_history", "--older-than", "1d", "--bucket", "h"
        )
        output, _ = purge.communicate(timeout=600)
    finally:
        done.set()
        thread.join(timeout=120)
    assert purge.returncode == 0, output
    assert len(writes) >= 10 and set(writes) <= {200, 201}, (writes, output)
    # Every old entry went; the two creations and each record written meanwhile stayed.
    created = writes[0::2].count(201)
    assert session.head(history).headers["Total-Objects"] == str(2 + created)
    assert not session.get(f"{history}?_before=100001").json()["data"]
