"""The history against the real server (gunicorn, gthread workers): the official `kinto-http`
client reads and purges it, and concurrent writers each get exactly one entry that a client
following the history with `_since` never misses."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import requests
from kinto_http import Client

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

USER = ("alice", "secret")
PAGINATE_BY = 5
WRITERS = 4
WRITES_PER_WRITER = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("history-server"),
        workers=3,
        threads=4,
        settings={
            "history_enabled": "true",
            "paginate_by": str(PAGINATE_BY),
            "log_level": "WARNING",
        },
        database_suffix="e2e_history",
    )
    with process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Client:
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    client = Client(server_url=server.url, auth=USER, bucket=bucket, collection="tasks")
    client.create_bucket(id=bucket)
    client.create_collection(id="tasks", bucket=bucket)
    return client


def test_kinto_http_reads_and_purges_the_history(client):
    assert "history" in client.server_info()["capabilities"]
    with client.batch() as batch:
        for index in range(8):
            batch.create_record(id=f"r{index}", data={"n": index})
    client.update_record(id="r0", data={"n": 100})
    client.delete_record(id="r1")

    entries = client.get_history()  # three pages: the client follows Next-Page
    assert len(entries) == 12
    assert [(e["action"], e["uri"].rsplit("/", 1)[1]) for e in entries[:3]] == [
        ("delete", "r1"),
        ("update", "r0"),
        ("create", "r7"),
    ]
    assert entries[-1]["resource_name"] == "bucket"
    updates = client.get_history(action="update", record_id="r0")
    assert [e["target"]["data"]["n"] for e in updates] == [100]

    purged = client.purge_history(resource_name="record")
    assert len(purged) == PAGINATE_BY  # one page per request, as every list deletion
    assert all(entry["deleted"] for entry in purged)
    while client.purge_history(resource_name="record"):
        pass
    assert [e["resource_name"] for e in client.get_history()] == ["collection", "bucket"]


def test_concurrent_writers_and_a_history_follower(server, client):
    """Every acknowledged write has exactly one entry, with the version it wrote; entries
    have distinct, increasing timestamps, so a follower polling with `_since=<ETag>` ends up
    with all of them."""
    history_url = f"{server.url}/buckets/{client.bucket_name}/history"
    records_url = f"{server.url}/buckets/{client.bucket_name}/collections/tasks/records"
    acknowledged: dict[str, list[int]] = {}
    failures: list[str] = []
    done = threading.Event()
    lock = threading.Lock()

    def writer(number: int) -> None:
        session = requests.Session()
        session.auth = USER
        for index in range(WRITES_PER_WRITER):
            record_id = f"w{number}-{index % 5}"
            response = session.put(
                f"{records_url}/{record_id}", json={"data": {"i": index}}, timeout=30
            )
            with lock:
                if response.status_code in (200, 201):
                    stamp = response.json()["data"]["last_modified"]
                    acknowledged.setdefault(record_id, []).append(stamp)
                else:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    seen: dict[str, dict] = {}

    def follower() -> None:
        session = requests.Session()
        session.auth = USER
        since = "0"
        while True:
            finished = done.is_set()
            url = f"{history_url}?_since={since}&_sort=last_modified&resource_name=record"
            etag = None
            while url:
                response = session.get(url, timeout=30)
                assert response.status_code == 200, response.text
                etag = etag or response.headers["ETag"].strip('"')
                for entry in response.json()["data"]:
                    seen[entry["id"]] = entry
                url = response.headers.get("Next-Page")
            since = etag
            if finished:
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    poller = threading.Thread(target=follower)
    poller.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    poller.join(120)

    assert not failures
    everything = client.get_history(resource_name="record")
    assert {e["id"] for e in everything} == set(seen)
    stamps = [e["last_modified"] for e in everything]
    assert len(set(stamps)) == len(stamps)
    written = {
        (record_id, stamp) for record_id, stamps in acknowledged.items() for stamp in stamps
    }
    recorded = {(e["record_id"], e["target"]["data"]["last_modified"]) for e in everything}
    assert recorded == written
    assert len(everything) == WRITERS * WRITES_PER_WRITER
