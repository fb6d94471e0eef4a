"""With the history on, every write in a bucket also updates the bucket's history scope.
Writes must take that shared lock before their own list's, or a batch writing two
collections deadlocks with single writes to the second one (PostgreSQL)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
import requests

from tests.e2e.server import ServerProcess, is_postgresql

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgresql,
    pytest.mark.skipif(
        not is_postgresql(os.environ.get("KINTO_STORAGE_URL", "")),
        reason="concurrency tests need PostgreSQL (set KINTO_STORAGE_URL=postgresql://…)",
    ),
]

AUTH = ("alice", "secret")
ROUNDS = 15


@pytest.fixture(scope="module")
def history_server(tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(
        tmp_path_factory.mktemp("history-locks"),
        workers=3,
        threads=4,
        settings={"history_enabled": "true", "log_level": "WARNING"},
        database_suffix="e2e_history_locks",
    )
    with process:
        yield process


def test_batches_and_single_writes_in_one_bucket_never_deadlock(history_server):
    url = history_server.url
    session = requests.Session()
    session.auth = AUTH
    assert session.put(f"{url}/buckets/b").status_code == 201
    for collection in ("c1", "c2"):
        assert session.put(f"{url}/buckets/b/collections/{collection}").status_code == 201
    statuses: list[int] = []
    lock = threading.Lock()

    def batches(order: tuple[str, str]) -> None:
        client = requests.Session()
        client.auth = AUTH
        for _ in range(ROUNDS):
            requests_ = [
                {
                    "method": "PUT",
                    "path": f"/buckets/b/collections/{c}/records/{uuid.uuid4().hex}",
                    "body": {"data": {}},
                }
                for c in order
                for _ in range(3)
            ]
            response = client.post(f"{url}/batch", json={"requests": requests_}, timeout=60)
            codes = [response.status_code]
            if response.status_code == 200:
                codes += [item["status"] for item in response.json()["responses"]]
            with lock:
                statuses.extend(codes)

    def singles(collection: str) -> None:
        client = requests.Session()
        client.auth = AUTH
        for _ in range(ROUNDS * 3):
            path = f"{url}/buckets/b/collections/{collection}/records/{uuid.uuid4().hex}"
            response = client.put(path, json={"data": {}}, timeout=60)
            with lock:
                statuses.append(response.status_code)

    threads = [
        threading.Thread(target=batches, args=(("c1", "c2"),)),
        threading.Thread(target=batches, args=(("c2", "c1"),)),
        threading.Thread(target=singles, args=("c1",)),
        threading.Thread(target=singles, args=("c2",)),
        threading.Thread(target=singles, args=("c2",)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    failures = [code for code in statuses if code not in (200, 201)]
    assert not failures, f"{len(failures)} failed of {len(statuses)}: {sorted(set(failures))}"
    history = session.head(f"{url}/buckets/b/history?resource_name=record")
    expected_records = 2 * ROUNDS * 6 + 3 * ROUNDS * 3
    assert history.headers["Total-Objects"] == str(expected_records)
