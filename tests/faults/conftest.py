"""Fixtures of the fault tier: a PostgreSQL cluster and a Redis the tests own, servers started
as `bin/serve` starts them (gunicorn, uvicorn workers, several of them), and the processes
of those servers, to kill."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.server import ServerProcess
from tests.faults.services import PostgresCluster, RedisServer, missing_postgres_tools
from tests.faults.traffic import AUTH, retry_until_ok


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    reason = missing_postgres_tools()
    if reason:
        pytest.skip(f"no private PostgreSQL cluster: {reason}")
    owned = PostgresCluster()
    try:
        owned.start()
        yield owned
    finally:
        owned.remove()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    owned = RedisServer()
    try:
        yield owned
    finally:
        owned.remove()


ServerFactory = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """`start_server(storage_url, workers=2, **settings)`: a running server, stopped (and its
    database dropped) at the end of the test."""
    started: list[ServerProcess] = []

    def start(storage_url: str, workers: int = 2, threads: int = 4, **settings: str):
        workdir = tmp_path / f"server{len(started)}"
        workdir.mkdir()
        server = ServerProcess(
            workdir,
            storage_url,
            workers=workers,
            threads=threads,
            settings={"log_level": "WARNING", **settings},
            database_suffix="faults",
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in reversed(started):
        server.stop()


def make_collections(server_url: str, count: int) -> list[str]:
    """A new bucket of `alice` with `count` collections; their paths (`/v1/buckets/…`)."""
    http = requests.Session()
    http.auth = AUTH
    bucket = f"b{uuid.uuid4().hex[:10]}"
    http.put(f"{server_url}/buckets/{bucket}", timeout=30).raise_for_status()
    paths = []
    for n in range(count):
        http.put(f"{server_url}/buckets/{bucket}/collections/c{n}", timeout=30).raise_for_status()
        paths.append(f"/v1/buckets/{bucket}/collections/c{n}")
    return paths


def root_url(server: ServerProcess) -> str:
    """The server's address without the API prefix, to which collection paths are joined."""
    return server.url.removesuffix("/v1")


def worker_pids(server: ServerProcess) -> list[int]:
    """The gunicorn workers of a server: the master's child processes."""
    assert server.process is not None
    master = server.process.pid
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its parenthesis.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == master:
            children.append(int(entry))
    return sorted(children)


def wait_for_workers(server: ServerProcess, count: int, without: set[int], timeout: float = 30):
    """Wait until the server has `count` workers, none of them in `without`; their pids."""
    deadline = time.monotonic() + timeout
    while True:
        pids = worker_pids(server)
        if len(pids) == count and not set(pids) & without:
            return pids
        assert time.monotonic() < deadline, f"workers {pids}, killed {without}"
        time.sleep(0.1)


def heartbeat(server: ServerProcess) -> tuple[int, dict]:
    try:
        response = requests.get(f"{server.url}/__heartbeat__", timeout=30)
    except requests.RequestException as error:
        return 0, {"error": repr(error)}
    return response.status_code, response.json()


def wait_until_healthy(server: ServerProcess, timeout: float = 60) -> float:
    """Seconds until the heartbeat answers 200."""
    started = time.monotonic()
    retry_until_ok(requests.Session(), f"{server.url}/__heartbeat__", timeout)
    return time.monotonic() - started
