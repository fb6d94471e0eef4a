"""`GET <api root>/attachments/<name>`: the stored files, when `attachment.base_url` leaves
serving them to this server (it is unset).

Local files are answered with their `Content-Type` (from the stored name's extension),
`Content-Length`, an `ETag` and `Last-Modified` (304 on a match), and single byte ranges
(206, `Accept-Ranges: bytes`, 416 when unsatisfiable). Files of a remote store are a redirect
to the storage's own URL. Files are public, as with the reference plugin behind a web
server: their names are random. Content never runs as a page on the API's origin: it is
sent with `Content-Security-Policy: sandbox` and `nosniff`. A large deployment lets its
proxy serve the files instead (docs/production.md).
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.http import http_date

from kinto_django import errors
from kinto_django.attachments import storage
from kinto_django.attachments.conf import attachment_settings

CHUNK_SIZE = 64 * 1024
RANGE = re.compile(r"bytes=(\d*)-(\d*)")
SANDBOX = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def not_found() -> HttpResponse:
    return errors.error_response(errors.url_not_found())


def serve_file(request: HttpRequest, name: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return errors.error_response(errors.method_not_allowed(["GET", "HEAD"]))
    backend = storage.backend()
    if not storage.is_local(backend):
        try:
            if not backend.exists(name):
                return not_found()
            return HttpResponseRedirect(backend.url(name))
        except Exception:  # noqa: BLE001 - a name the storage refuses does not exist
            return not_found()
    path = storage.local_path(name)
    if path is None:
        return not_found()
    stat = os.stat(path)
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {
        "ETag": etag,
        "Last-Modified": http_date(stat.st_mtime),
        "Accept-Ranges": "bytes",
        "Content-Security-Policy": SANDBOX,
        "X-Content-Type-Options": "nosniff",
    }
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    accel = attachment_settings.accel_redirect_prefix
    if accel:
        # The proxy sends the file (ranges and conditional requests included).
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(name)
        headers.pop("ETag")
        headers.pop("Last-Modified")
        return with_headers(response, headers)
    if etag in [tag.strip() for tag in request.META.get("HTTP_IF_NONE_MATCH", "").split(",")]:
        return with_headers(HttpResponse(status=304), headers)
    byte_range = requested_range(request, etag, stat.st_size)
    if byte_range == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{stat.st_size}"
        return with_headers(response, headers)
    if byte_range is not None:
        start, end = byte_range
        length = end - start + 1
        body = iter([]) if request.method == "HEAD" else read_range(path, start, length)
        response = StreamingHttpResponse(body, status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{stat.st_size}"
        response["Content-Length"] = str(length)
        return with_headers(response, headers)
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
        response["Content-Length"] = str(stat.st_size)
        return with_headers(response, headers)
    response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115
    return with_headers(response, headers)


def with_headers(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for key, value in headers.items():
        response[key] = value
    return response


def requested_range(request: HttpRequest, etag: str, size: int) -> Any:
    """(first, last) byte of a single `Range: bytes=…` (None: the whole file, also for
    several ranges or a stale `If-Range`; "unsatisfiable" for a range past the end)."""
    header = request.META.get("HTTP_RANGE", "").strip()
    if not header:
        return None
    if_range = request.META.get("HTTP_IF_RANGE", "").strip()
    if if_range and if_range != etag:
        return None
    match = RANGE.fullmatch(header.replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


def read_range(path: str, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK_SIZE, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
