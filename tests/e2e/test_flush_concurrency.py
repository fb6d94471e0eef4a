"""`POST /__flush__` while clients keep writing through their personal buckets: no request
fails with a server error or a conflict, and after the last flush the server is empty.

Requests under way when a flush starts finish first; those arriving meanwhile wait, then
see an empty server (a write to a collection that vanished meanwhile is a plain 404).
PostgreSQL only: SQLite runs one write transaction at a time anyway.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.server import PostgresDatabase, ServerProcess, is_postgresql

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgresql,
    pytest.mark.skipif(
        not is_postgresql(os.environ.get("KINTO_STORAGE_URL", "")),
        reason="concurrency tests need PostgreSQL (set KINTO_STORAGE_URL=postgresql://…)",
    ),
]

USERS = [(f"user{n}", "pw") for n in range(3)]
CLIENTS_PER_USER = 2
RUN_SECONDS = 6
FLUSH_EVERY_SECONDS = 0.3
ACCEPTED = {200, 201, 404}


@pytest.fixture(scope="module")
def flushable_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("flush-server"),
        workers=2,
        threads=4,
        settings={
            "flush_endpoint_enabled": "true",
            "default_bucket_enabled": "true",
            "log_level": "WARNING",
        },
    )
    # A database of its own, next to the session server's.
    process.database = PostgresDatabase(os.environ["KINTO_STORAGE_URL"], suffix="e2e_flush")
    process.storage_url = process.database.url
    with process:
        yield process


def writer(url: str, auth: tuple[str, str], stop: threading.Event, seen: Counter) -> None:
    session = requests.Session()
    session.auth = auth
    n = 0
    while not stop.is_set():
        n += 1
        records = f"{url}/buckets/default/collections/c{n % 3}/records"
        if n % 3:
            response = session.post(records, json={"data": {"n": n}}, timeout=30)
            statuses = [response.status_code]
        else:
            response = session.post(
                f"{url}/batch",
                json={
                    "requests": [
                        {"method": "PUT", "path": f"{records[len(url) :]}/r{n % 5}"},
                        {"method": "GET", "path": "/buckets/default/collections"},
                        {"method": "POST", "path": records[len(url) :], "body": {"data": {}}},
                    ]
                },
                timeout=30,
            )
            statuses = [response.status_code]
            if response.status_code == 200:
                statuses += [sub["status"] for sub in response.json()["responses"]]
        for status in statuses:
            seen[status] += 1


def test_flush_under_load(flushable_server: ServerProcess) -> None:
    url = flushable_server.url
    stop = threading.Event()
    seen: Counter = Counter()
    threads = [
        threading.Thread(target=writer, args=(url, auth, stop, seen))
        for auth in USERS
        for _ in range(CLIENTS_PER_USER)
    ]
    for thread in threads:
        thread.start()
    flushes = Counter()
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        flushes[requests.post(f"{url}/__flush__", timeout=30).status_code] += 1
        time.sleep(FLUSH_EVERY_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    assert set(flushes) == {202}, flushes
    assert set(seen) <= ACCEPTED, (seen, flushable_server.log_tail())
    assert seen[201] > 0
    assert requests.post(f"{url}/__flush__", timeout=30).status_code == 202
    for auth in USERS:
        assert requests.get(f"{url}/buckets", auth=auth, timeout=30).json()["data"] == []
