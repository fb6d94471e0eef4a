"""One HTTP request through an ASGI application, in-process, as uvicorn hands it over:
`raw_path` keeps the bytes of the request line; `path` has undecodable ones replaced."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator


def asgi_request(
    application: Any,
    method: str,
    raw_path: bytes,
    *,
    query: bytes = b"",
    body: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Status, headers and body of the response (sent in one body message)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("latin-1"), errors="replace"),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }

    async def send() -> tuple[int, dict[bytes, bytes], bytes]:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": body})
        start = await communicator.receive_output(5)
        content = await communicator.receive_output(5)
        return start["status"], dict(start["headers"]), content["body"]

    return async_to_sync(send)()
