"""Fixtures of the end-to-end tests: one real server per test session, real clients.

The server is gunicorn with uvicorn workers (as `bin/serve` runs it) on a port in
9130-9149, on a fresh SQLite file, or on a PostgreSQL database created for the run when
`KINTO_STORAGE_URL` points to PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kinto_http import Client

from tests.e2e.server import ServerProcess

USER = ("alice", "secret")
# Small enough that listing a handful of records already spans several pages.
PAGINATE_BY = 5


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The running server (stopped, and its database dropped, at the end of the session)."""
    process = ServerProcess(
        tmp_path_factory.mktemp("server"),
        workers=3,
        threads=4,
        settings={"paginate_by": str(PAGINATE_BY), "log_level": "WARNING"},
    )
    with process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Client:
    """A kinto-http client as `alice`, on a bucket and collection of its own."""
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    client = Client(server_url=server.url, auth=USER, bucket=bucket, collection="tasks")
    client.create_bucket(id=bucket)
    client.create_collection(id="tasks", bucket=bucket)
    return client
