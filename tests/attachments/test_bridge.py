"""Uploads through the ASGI bridge (`bin/serve`): the caller is authorized before the bridge
reads a byte of the body, so a stranger cannot make the server spool a large body to disk."""

from __future__ import annotations

import asyncio

import pytest
from django.core.wsgi import get_wsgi_application
from django.db import connection, connections

from kinto_django.core.api.bridge import WSGIBridge
from tests.attachments.conftest import ATTACHMENT, MULTIPART, form
from tests.conftest import basic

pytestmark = pytest.mark.postgresql


def post_upload(application: WSGIBridge, user: str, body: bytes) -> tuple[int, int]:
    """The status answered, and how many times the bridge read from the client."""
    reads = []
    sent = []

    async def receive():
        reads.append(len(body))
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    path = "/v1" + ATTACHMENT
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 40000),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", MULTIPART.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", basic(user).encode()),
        ],
    }
    asyncio.run(application(scope, receive, send))
    return sent[0]["status"], len(reads)


def test_a_strangers_upload_is_refused_before_its_body_is_read(api, collection):
    if connection.vendor != "postgresql":
        pytest.skip("the bridge's threads need a database that other connections see")
    application = WSGIBridge(get_wsgi_application(), threads=1)
    body = form(content=b"x" * 100_000)
    try:
        assert post_upload(application, "stranger", body) == (403, 0)
        status, reads = post_upload(application, "alice", body)
        assert (status, reads) == (201, 1)
    finally:
        # The bridge's thread holds a connection: closed, or the test database stays in use.
        application.executor.submit(connections.close_all).result()
        application.executor.shutdown()
    assert api.get(ATTACHMENT.removesuffix("/attachment")).data["attachment"]["size"] == 100_000
