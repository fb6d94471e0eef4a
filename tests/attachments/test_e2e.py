"""Attachments against real servers: the official Python client (`kinto_http`) on the
standalone server, a host site that installs the app, an upload cut short, and the memory a
200 MB upload costs a worker."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests
from kinto_http import Client

from tests.e2e.server import ROOT, ServerProcess

pytestmark = pytest.mark.e2e

USER = ("alice", "secret")
MIB = 1024 * 1024


def stored(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not str(p.relative_to(folder)).startswith("heartbeat/")
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attachment-files")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, files: Path):
    with ServerProcess(
        tmp_path_factory.mktemp("attachments-server"),
        workers=1,
        threads=4,
        settings={"attachment_base_path": str(files), "log_level": "WARNING"},
        database_suffix="attach",
    ) as process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Client:
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    client = Client(server_url=server.url, auth=USER, bucket=bucket, collection="docs")
    client.create_bucket(id=bucket)
    client.create_collection(id="docs", bucket=bucket)
    return client


def test_the_official_client_adds_fetches_and_removes(client, server, files, tmp_path):
    content = os.urandom(300 * 1024)
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    client.add_attachment(id="r1", filepath=str(path), data={"title": "Q3"})
    record = client.get_record(id="r1")["data"]
    attachment = record["attachment"]
    assert record["title"] == "Q3"
    assert attachment["filename"] == "report.pdf"
    assert attachment["mimetype"] == "application/pdf"
    assert attachment["size"] == len(content)
    fetched = requests.get(attachment["location"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert hashlib.sha256(fetched.content).hexdigest() == attachment["hash"]
    assert attachment["hash"] == hashlib.sha256(content).hexdigest()
    # The client's own download (capability base_url + location), checked by its hash.
    downloaded = client.download_attachment(record, filepath=str(tmp_path / "copy.pdf"))
    assert Path(downloaded).read_bytes() == content
    name = attachment["location"].rsplit("/", 1)[1]
    assert name in stored(files)
    client.remove_attachment(id="r1")
    assert client.get_record(id="r1")["data"]["attachment"] is None
    assert requests.get(attachment["location"], timeout=10).status_code == 404
    assert name not in stored(files)


def test_a_range_request_through_the_real_server(client, tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"0123456789" * 1000)
    client.add_attachment(id="r2", filepath=str(path))
    location = client.get_record(id="r2")["data"]["attachment"]["location"]
    part = requests.get(location, headers={"Range": "bytes=5-14"}, timeout=10)
    assert part.status_code == 206
    assert part.content == b"5678901234"


def test_an_upload_cut_short_leaves_nothing(client, server, files):
    before = stored(files)
    bucket = client.bucket_name
    target = f"/v1/buckets/{bucket}/collections/docs/records/cut/attachment"
    boundary = "cutboundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="attachment"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    declared = len(head) + 20 * MIB
    import base64

    token = base64.b64encode(b"alice:secret").decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Basic {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {declared}\r\n\r\n"
            ).encode()
            + head
        )
        for _ in range(4):
            sock.sendall(b"x" * MIB)
    time.sleep(1.5)
    assert stored(files) == before
    with pytest.raises(Exception) as missing:
        client.get_record(id="cut")
    assert "404" in str(missing.value)


@pytest.mark.slow
def test_a_200_mb_upload_streams_in_constant_memory(server, client, files):
    """The worker's peak resident set (VmHWM) grows by far less than the upload, and than
    the download of the same file."""
    target = f"{server.url}/buckets/{client.bucket_name}/collections/docs/records/big/attachment"
    worker = worker_pid(server)
    # Warm up: the first upload loads code and buffers.
    warm = requests.post(
        target, auth=USER, files={"attachment": ("warm.txt", b"x" * MIB)}, timeout=60
    )
    assert warm.status_code == 201, warm.text
    peak_before = vm_kib(worker, "VmHWM")
    size = 200 * MIB
    boundary = "bigboundary"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="attachment"; filename="big.bin.txt"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    digest = hashlib.sha256()
    chunk = os.urandom(MIB)

    stream = MultipartStream(head, chunk, size // MIB, tail, digest)
    response = requests.post(
        target,
        auth=USER,
        data=stream,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=600,
    )
    assert response.status_code == 200, response.text
    assert response.json()["size"] == size
    assert response.json()["hash"] == digest.hexdigest()
    growth_mib = (vm_kib(worker, "VmHWM") - peak_before) / 1024
    print(f"\npeak RSS growth of the worker for a 200 MB upload: {growth_mib:.1f} MiB")
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "attachment-upload-peak-rss.txt").write_text(f"{growth_mib:.1f} MiB\n")
    assert growth_mib < 50
    # Served back in chunks too: the worker never holds the file.
    download = hashlib.sha256()
    with requests.get(response.json()["location"], stream=True, timeout=600) as served:
        assert served.status_code == 200
        assert served.headers["Content-Length"] == str(size)
        for piece in served.iter_content(MIB):
            download.update(piece)
    assert download.hexdigest() == digest.hexdigest()
    download_growth_mib = (vm_kib(worker, "VmHWM") - peak_before) / 1024
    print(f"peak RSS growth after serving it back: {download_growth_mib:.1f} MiB")
    assert download_growth_mib < 50


class MultipartStream:
    """A multipart body of `count` copies of `chunk`, read in pieces (requests sends it
    with its `Content-Length`, never holding it whole)."""

    def __init__(self, head: bytes, chunk: bytes, count: int, tail: bytes, digest) -> None:
        self.pieces = iter([head, *([chunk] * count), tail])
        self.length = len(head) + len(chunk) * count + len(tail)
        self.digest = digest
        self.chunk = chunk
        self.buffer = b""

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            piece = next(self.pieces, None)
            if piece is None:
                break
            if piece is self.chunk:
                self.digest.update(piece)
            self.buffer += piece
        if size < 0:
            size = len(self.buffer)
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


def worker_pid(server: ServerProcess) -> int:
    assert server.process is not None
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def vm_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(key)


# --- a host site that installs the app -------------------------------------------------------

SITE_ROOT = ROOT / "tests" / "host_site"
PREFIX = "/api/storage/v1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("site-files")
    process = ServerProcess(
        tmp_path_factory.mktemp("host-site-attachments"),
        workers=1,
        settings={"attachment_base_path": str(folder)},
        database_suffix="hostattach",
        django_settings="hostsite.settings",
        application="hostsite.asgi:application",
        python_path=(SITE_ROOT,),
        api_root=PREFIX,
    )
    with process:
        # The template database is the site's without the optional app: add its table.
        process.manage("migrate", "--noinput")
        process.manage("createcachetable", "site_cache")
        yield process, folder


def test_a_host_site_serves_attachments_under_its_prefix(site, tmp_path):
    process, folder = site
    client = Client(server_url=process.url, auth=USER, bucket="b", collection="c")
    client.create_bucket(id="b")
    client.create_collection(id="c", bucket="b")
    capability = requests.get(f"{process.url}/", timeout=10).json()["capabilities"]
    assert capability["attachments"]["base_url"] == f"{process.url}/attachments/"
    path = tmp_path / "notes.txt"
    path.write_bytes(b"from the site")
    client.add_attachment(id="r", filepath=str(path))
    attachment = client.get_record(id="r")["data"]["attachment"]
    assert attachment["location"].startswith(f"{process.url}/attachments/")
    assert requests.get(attachment["location"], timeout=10).content == b"from the site"
    assert stored(folder) == [attachment["location"].rsplit("/", 1)[1]]
    client.delete_record(id="r")
    assert stored(folder) == []
