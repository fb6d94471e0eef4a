"""Plain HTTP requests of an ASGI server, run by the WSGI application in a thread pool.

Django's own ASGI handler runs synchronous views one at a time per process (they are
`thread_sensitive`), and the API's views are synchronous: behind it, a server process serves
one API request at a time. `WSGIBridge` runs them on `threads` threads instead, as a WSGI
server would. It ships with the package so that a site embedding the API serves it as fast
as the standalone project does: `WSGIBridge(get_wsgi_application())` is the HTTP
application of the site's ASGI router (see the README, "Embed in your Django site").

The request body is read on the event loop first, the application runs in a thread, and the
response is sent from the loop once the thread is done: one hand-over each way per request.
(Bridges that stream the body and each response chunk between the loop and the thread, as
a2wsgi does, wait for the loop several times per request, which cost a tenth of the write
throughput under load.) The API's responses are small JSON documents, built whole anyway.

What a site's own pages get through it: every request body is read up to the API's
`max_request_body_bytes` (a longer one is not read at all, so that the API answers 413 from
the declared length). Routes that take large bodies (file uploads) say so with
`spool_bodies()`: their bodies go to a temporary file (in memory up to `SPOOL_MEMORY_BYTES`,
then on disk) within the limit the route gives. Streaming responses (files) are sent chunk by
chunk, each read in the thread pool, never held whole.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings

# A spooled route is called twice. First without its body and with this key in the environ:
# the application only checks that the caller may send it (authentication, permissions) and
# answers `CONTINUE`; any other answer goes to the client before a byte of the body is read,
# so a stranger cannot make the server spool a large body. Then with the body, as usual.
AUTHORIZE_ONLY = "kinto.authorize_only"
CONTINUE = 100
# Bodies of spooled routes are held in memory up to this size, then written to disk.
SPOOL_MEMORY_BYTES = 1024 * 1024
# A spooled body is written in pieces of about this size, each from a thread.
SPOOL_WRITE_BYTES = 1024 * 1024
_NOT_SPOOLED = object()
# Predicates of the routes whose bodies are spooled (see `spool_bodies`).
_spooled_routes: list[Callable[[dict[str, Any]], Any]] = []


def spool_bodies(route: Callable[[dict[str, Any]], Any]) -> None:
    """Declare routes whose request bodies may be large (call from an app's `ready()`).

    `route(scope)` answers False for requests it does not know, else the most bytes the body
    may have (None: no limit): such a body is spooled to a temporary file, and a longer
    declared one is not read at all (the application answers 413 from the declared length).
    """
    if route not in _spooled_routes:
        _spooled_routes.append(route)


def spool_limit(scope: dict[str, Any]) -> Any:
    """The body limit of a spooled route, or `_NOT_SPOOLED`."""
    for route in _spooled_routes:
        limit = route(scope)
        if limit is not False:
            return limit
    return _NOT_SPOOLED


def wsgi_environ(scope: dict[str, Any], body: bytes | Any) -> dict[str, Any]:
    """The PEP 3333 environ of an ASGI HTTP scope (strings are bytes decoded as latin-1).

    The path is the request's own bytes (`raw_path`) when the server gives them: its `path`
    has bytes that are not UTF-8 replaced. `RAW_URI` (as gunicorn sets it) keeps the request
    line's target, for the API to refuse what is not UTF-8.
    """
    root = scope.get("root_path", "").encode("utf-8").decode("latin-1")
    raw_path = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
    raw_path = raw_path.split(b"?", 1)[0]
    path = unquote_to_bytes(raw_path).decode("latin-1")
    query = scope.get("query_string", b"")
    if root and path.startswith(root):
        path = path[len(root) :]
    server_name, server_port = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root,
        "PATH_INFO": path,
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": (raw_path + b"?" + query if query else raw_path).decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body) if isinstance(body, bytes) else body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        if b"_" in raw_name:
            # `X_Foo` would become the same environ key as `X-Foo` (a header a proxy or the
            # application trusts): dropped, as gunicorn and Django's own servers do.
            continue
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = "HTTP_" + name
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    if "CONTENT_LENGTH" not in environ:
        # A chunked body, read whole: its length is known now (Django reads no more).
        size = len(body) if isinstance(body, bytes) else body.seek(0, io.SEEK_END)
        if size:
            environ["CONTENT_LENGTH"] = str(size)
        if not isinstance(body, bytes):
            body.seek(0)
    return environ


async def read_body(scope: dict[str, Any], receive: Callable) -> bytes:
    """The whole body, but never much more than the API accepts: past the limit, reading
    stops and the application answers 413 from the declared length."""
    limit = kinto_settings.max_request_body_bytes + 1
    declared = dict(scope.get("headers", ())).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        return b""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body") or size > limit:
            break
    return b"".join(chunks)


async def spool_body(scope: dict[str, Any], receive: Callable, limit: int | None) -> Any:
    """The body of a spooled route in a temporary file (nothing read past `limit`)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    declared = dict(scope.get("headers", ())).get(b"content-length", b"")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        return spool
    loop = asyncio.get_running_loop()
    size = 0
    # Chunks are gathered up to SPOOL_WRITE_BYTES, then written from a thread: a disk write
    # (a slow or full disk) never stalls the event loop and the live connections it serves.
    pending: list[bytes] = []
    pending_bytes = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        pending.append(chunk)
        pending_bytes += len(chunk)
        size += len(chunk)
        done = not message.get("more_body") or (limit is not None and size > limit)
        if pending_bytes >= SPOOL_WRITE_BYTES or done:
            await loop.run_in_executor(None, spool.write, b"".join(pending))
            pending, pending_bytes = [], 0
        if done:
            break
    if pending:
        await loop.run_in_executor(None, spool.write, b"".join(pending))
    spool.seek(0)
    return spool


def run(application: Callable, environ: dict[str, Any]) -> tuple[int, list, Any]:
    """Call the WSGI application (in a worker thread): status, headers and body (the
    response itself when it streams: `stream_response` sends and closes it)."""
    started: list[Any] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        started[:] = [status, headers]
        return lambda data: chunks.append(data)

    chunks: list[bytes] = []
    try:
        iterable = application(environ, start_response)
        if getattr(iterable, "streaming", False):
            status, headers = started
            encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            return int(status.split(" ", 1)[0]), encoded, iterable
        try:
            chunks.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
    finally:
        # The request's objects may live on in reference cycles until a full garbage
        # collection: the body they hold is released now.
        environ["wsgi.input"].close()
    status, headers = started
    encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)


class WSGIBridge:
    """An ASGI application serving HTTP with a WSGI application on `threads` threads."""

    def __init__(self, application: Callable, threads: int = 4) -> None:
        self.application = application
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="kinto-http")

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return  # lifespan and WebSocket belong to other applications of the router
        limit = spool_limit(scope)
        if limit is _NOT_SPOOLED:
            body = await read_body(scope, receive)
        else:
            environ = wsgi_environ(scope, b"")
            environ[AUTHORIZE_ONLY] = True
            status, headers, content = await self.call(environ)
            if status != CONTINUE:
                await self.send_response(status, headers, content, send)
                return
            try:
                body = await spool_body(scope, receive, limit)
            except OSError as exc:
                # The temporary folder is full: the protocol's 507, not the server's bare 500.
                error = errors.as_kinto_error(exc)
                if error.status != 507:
                    raise
                await self.send_error(error, send)
                return
        await self.send_response(*await self.call(wsgi_environ(scope, body)), send)

    async def call(self, environ: dict[str, Any]) -> tuple[int, list, Any]:
        """The WSGI application's answer, computed in the thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, run, self.application, environ)

    async def send_response(self, status: int, headers: list, content: Any, send: Callable):
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if isinstance(content, bytes):
            await send({"type": "http.response.body", "body": content})
        else:
            await self.stream_response(content, send)

    @staticmethod
    async def send_error(error: errors.KintoError, send: Callable) -> None:
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), str(v).encode()) for k, v in error.headers.items()]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": jsonutil.dumps(error.body())})

    async def stream_response(self, response: Any, send: Callable) -> None:
        """Send a streaming response chunk by chunk, each read in the thread pool."""
        loop = asyncio.get_running_loop()
        chunks = iter(response)
        try:
            while True:
                chunk = await loop.run_in_executor(self.executor, next, chunks, None)
                if chunk is None:
                    break
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await loop.run_in_executor(self.executor, response.close)
