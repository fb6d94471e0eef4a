"""A disk fills up under writes: a SQLite database's, and the attachments' local storage (a
tmpfs of a few megabytes that the test mounts, so it needs the right to mount; skipped,
saying so, without it).

What must hold: a write that cannot be stored answers 507 with the protocol's error body and
a clear message (never a 500); everything acknowledged before stays readable and unchanged
(the database passes SQLite's integrity check; stored files keep their hash); a refused
upload leaves no file and no record behind; once space is freed, writes succeed again
without restarting the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import uuid

import pytest
import requests

from tests.faults.traffic import AUTH

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

DISK_MEGABYTES = 16
# Each record carries this much text: the disk fills within a few hundred writes.
PAYLOAD = "x" * 20_000


@pytest.fixture
def small_disk(tmp_path):
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MEGABYTES}m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(mountpoint)], check=True, capture_output=True)


def test_a_full_disk_answers_507_and_damages_nothing(small_disk, start_server):
    database = small_disk / "kinto.sqlite3"
    server = start_server(f"sqlite:///{database}", workers=1)
    http = requests.Session()
    http.auth = AUTH
    collection = f"{server.url}/buckets/full/collections/items"
    assert http.put(f"{server.url}/buckets/full", timeout=10).status_code == 201
    assert http.put(collection, timeout=10).status_code == 201

    acknowledged: dict[str, dict] = {}
    statuses: dict[int, int] = {}
    full = None
    for n in range(5000):
        record_id = f"r{n}"
        response = http.put(
            f"{collection}/records/{record_id}",
            json={"data": {"n": n, "text": PAYLOAD}},
            timeout=30,
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 201:
            acknowledged[record_id] = response.json()["data"]
            continue
        full = response
        break
    assert full is not None, f"the disk never filled: {statuses}"
    assert full.status_code == 507, full.text
    body = full.json()
    assert body["errno"] == 201 and "no storage space left" in body["message"], body
    assert full.headers["Retry-After"].isdigit()

    # A batch fails as a whole, with the same answer.
    batch = http.post(
        f"{server.url}/batch",
        json={
            "requests": [
                {"method": "PUT", "path": f"/buckets/full/collections/items/records/b{i}",
                 "body": {"data": {"text": PAYLOAD}}}
                for i in range(5)
            ]
        },
        timeout=30,
    )  # fmt: skip
    assert batch.status_code == 507 and batch.json()["errno"] == 201, batch.text
    # Reads go on, and everything acknowledged is there, unchanged.
    stored = {}
    url = f"{collection}/records?_limit=500"
    while url:
        page = http.get(url, timeout=30)
        assert page.status_code == 200, page.text
        stored.update({obj["id"]: obj for obj in page.json()["data"]})
        url = page.headers.get("Next-Page")
    for record_id, obj in acknowledged.items():
        assert stored.get(record_id) == obj, record_id
    assert not {f"b{i}" for i in range(5)} & set(stored)

    check = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check.close()

    # Space comes back (an operator deletes something): writes succeed again, same server.
    subprocess.run(["mount", "-o", f"remount,size={DISK_MEGABYTES * 4}m", str(small_disk)],
                   check=True)  # fmt: skip
    response = http.put(
        f"{collection}/records/after-{uuid.uuid4().hex[:6]}",
        json={"data": {"text": PAYLOAD}},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    print(f"\nSQLite disk full after {len(acknowledged)} writes: {statuses}; first refusal "
          f"{full.status_code} {body['message']!r}")  # fmt: skip


def test_a_full_attachment_disk_answers_507_and_leaves_nothing_half_done(
    small_disk, start_server, cluster
):
    files = small_disk / "attachments"
    files.mkdir()
    server = start_server(cluster.url(), workers=1, attachment_base_path=str(files))
    http = requests.Session()
    http.auth = AUTH
    records = f"{server.url}/buckets/files/collections/docs/records"
    assert http.put(f"{server.url}/buckets/files", timeout=10).status_code == 201
    assert http.put(f"{server.url}/buckets/files/collections/docs", timeout=10).status_code == 201

    stored: dict[str, str] = {}  # record id -> sha256 of its file
    refused = None
    for n in range(100):
        content = os.urandom(1024 * 1024)
        response = http.post(
            f"{records}/f{n}/attachment",
            files={"attachment": (f"file{n}.txt", content, "text/plain")},
            timeout=60,
        )
        if response.status_code == 201:
            stored[f"f{n}"] = hashlib.sha256(content).hexdigest()
            continue
        refused = (f"f{n}", response)
        break
    assert refused is not None, "the disk never filled"
    record_id, response = refused
    assert response.status_code == 507, response.text
    assert "no storage space left" in response.json()["message"]
    # No record for the refused upload, and no file of it on the disk.
    assert http.get(f"{records}/{record_id}", timeout=10).status_code in (403, 404)
    on_disk = {path.name for path in files.rglob("*") if path.is_file()}
    assert len(on_disk) == len(stored), (sorted(on_disk), sorted(stored))
    # Every file stored before is whole.
    for rid, digest in stored.items():
        attachment = http.get(f"{records}/{rid}", timeout=10).json()["data"]["attachment"]
        assert attachment["hash"] == digest
        body = http.get(attachment["location"], timeout=30).content
        assert hashlib.sha256(body).hexdigest() == digest, rid

    subprocess.run(["mount", "-o", f"remount,size={DISK_MEGABYTES * 4}m", str(small_disk)],
                   check=True)  # fmt: skip
    again = http.post(
        f"{records}/{record_id}/attachment",
        files={"attachment": ("again.txt", b"x" * 1024, "text/plain")},
        timeout=60,
    )
    assert again.status_code == 201, again.text
    print(f"\nattachments disk full after {len(stored)} files of 1 MiB: 507, nothing left "
          f"behind; upload accepted again once space was added")  # fmt: skip
