"""kill -9 of a server worker in the middle of writes and batches, and of a restore.

What must hold: every write acknowledged before the kill is stored; a batch is all or
nothing whether or not its answer reached the client; `_since` pollers receive every
acknowledged version exactly once; no lock is left behind (every collection still takes
writes, no session stays idle in a transaction); gunicorn replaces the worker and the
others keep serving. A restore killed half way leaves nothing behind and can be run again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.e2e.server import ROOT
from tests.faults.conftest import (
    make_collections,
    root_url,
    wait_for_workers,
    worker_pids,
)
from tests.faults.traffic import AUTH, Traffic

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

KILLS = 3
MAX_KILLS = 10


def idle_in_transaction(cluster, database: str) -> int:
    return cluster.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
        "AND state LIKE 'idle in transaction%%'".replace("%s", f"'{database}'")
    )[0][0]


def test_a_worker_killed_in_the_middle_of_writes_and_batches_loses_nothing_acknowledged(
    cluster, start_server
):
    server = start_server(cluster.url(), workers=2)
    collections = make_collections(server.url, 3)
    killed: set[int] = set()
    with Traffic(root_url(server), collections, writers=6, pollers=2, batch_size=25) as traffic:
        traffic.wait_for_acknowledged(100)
        # Kill until requests in flight were cut, batches among them (each kill is one worker
        # of two, which always has several of the six writers' requests in progress).
        while len(killed) < KILLS or (
            sum(w.interrupted_batches for w in traffic.writers) == 0 and len(killed) < MAX_KILLS
        ):
            victim = worker_pids(server)[0]
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
            started = time.monotonic()
            wait_for_workers(server, 2, killed)
            replaced_in = time.monotonic() - started
            # The survivor and the replacement go on serving every collection.
            traffic.wait_for_acknowledged(60)
    report = traffic.verify()

    interrupted = sum(w.interrupted_batches for w in traffic.writers)
    assert interrupted > 0, report
    assert traffic.outcomes.connection_errors > 0, report
    # No lock left behind: each collection takes a write at once, and no session of the
    # server is stuck in a transaction.
    http = requests.Session()
    http.auth = AUTH
    for collection in collections:
        response = http.put(f"{root_url(server)}{collection}/records/after-kill", timeout=10)
        assert response.status_code == 201, response.text
    assert idle_in_transaction(cluster, server.database.name) == 0
    print(f"\nkill -9 x{len(killed)} (replaced in {replaced_in:.2f}s): {report}, "
          f"batches cut {interrupted}")  # fmt: skip


def synthetic_backup(path, records: int) -> None:
    """A valid backup file of one bucket, one collection and `records` records."""
    parents = {"bucket": "restored", "collection": "items"}
    lines = [
        {
            "format": "kinto-backup",
            "version": 1,
            "created": "2026-12-01T00:00:00.000+00:00",
            "database": "postgresql",
            "options": {"buckets": None, "tombstones": True, "accounts": False},
            "kinds": ["bucket", "collection", "group", "record"],
        },
        {"kind": "list", "resource": "bucket", "parents": {}, "last_modified": 1700000000000},
    ]
    readable = {"read": ["system.Everyone"]}
    lines.append(
        {"kind": "bucket", "parents": {}, "id": "restored", "last_modified": 1700000000000,
         "deleted": False, "data": {}, "permissions": readable}
    )  # fmt: skip
    lines.append(
        {"kind": "list", "resource": "collection", "parents": {"bucket": "restored"},
         "last_modified": 1700000000001}
    )  # fmt: skip
    lines.append(
        {"kind": "collection", "parents": {"bucket": "restored"}, "id": "items",
         "last_modified": 1700000000001, "deleted": False, "data": {}, "permissions": {}}
    )  # fmt: skip
    first = 1700000001000
    lines.append(
        {"kind": "list", "resource": "record", "parents": parents,
         "last_modified": first + records}
    )  # fmt: skip
    for n in range(records):
        lines.append(
            {"kind": "record", "parents": parents, "id": f"r{n:07d}",
             "last_modified": first + n + 1, "deleted": False,
             "data": {"n": n, "text": "x" * 200}, "permissions": {}}
        )  # fmt: skip
    counts: dict[str, int] = {}
    for line in lines[1:]:
        counts[line["kind"]] = counts.get(line["kind"], 0) + 1
    lines.append({"kind": "end", "counts": counts, "lines": len(lines)})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_restore_killed_half_way_leaves_nothing_and_runs_again(cluster, start_server, tmp_path):
    server = start_server(cluster.url(), workers=2)
    backup = tmp_path / "backup.jsonl"
    synthetic_backup(backup, 60_000)
    database = server.database.name

    restore = subprocess.Popen(
        [sys.executable, "manage.py", "kinto_restore", str(backup)],
        cwd=ROOT,
        env=server.environ(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Validation reads the file without writing; kill once the restore's transaction wrote.
    deadline = time.monotonic() + 120
    while True:
        assert restore.poll() is None, "the restore ended before it could be killed"
        assert time.monotonic() < deadline, "the restore never started writing"
        writing = cluster.query(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' "
            "AND backend_xid IS NOT NULL"
        )[0][0]
        if writing:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    restore.send_signal(signal.SIGKILL)
    restore.wait(timeout=10)

    http = requests.Session()
    bucket = f"{server.url}/buckets/restored"
    # Nothing of the killed restore is visible, and no session holds its locks for long.
    deadline = time.monotonic() + 10
    while (
        idle_in_transaction(cluster, database)
        or cluster.query(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' "
            "AND backend_xid IS NOT NULL"
        )[0][0]
    ):
        assert time.monotonic() < deadline, "the killed restore's transaction is still open"
        time.sleep(0.1)
    assert http.get(bucket, timeout=10).status_code == 401

    # Run again: it completes, every record is there.
    server.manage("kinto_restore", str(backup))
    response = http.head(f"{bucket}/collections/items/records", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Total-Objects"] == "60000"
