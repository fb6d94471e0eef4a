"""Receiving an upload: the multipart body read part by part, in constant memory.

The file part goes to a temporary file in chunks while its SHA-256 and size are computed;
`data` and `permissions` are read up to `max_request_body_bytes` each; any other part is
refused before the rest of the body is read. Django's own multipart reader keeps text parts
in memory without bound when `DATA_UPLOAD_MAX_MEMORY_SIZE` is None (as in the standalone
project), so the parts are walked here with its lower-level parser instead.

Whatever goes wrong (a refused part, a client that disconnects, an error), the temporary
file is removed: nothing reaches the storage before the whole upload has arrived.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.http.multipartparser import (
    FIELD,
    FILE,
    ChunkIter,
    LazyStream,
    MultiPartParserError,
    Parser,
    exhaust,
)
from django.utils.http import parse_header_parameters

from kinto_django import errors
from kinto_django.core.api.parsers import media_type

CHUNK_SIZE = 256 * 1024
FORM_FIELDS = ("data", "permissions")
FILE_FIELD = "attachment"
BOUNDARY = re.compile(r"[ -~]{0,200}[!-~]")


def posted_data_error(message: str) -> errors.KintoError:
    """A malformed form (errno 109, as the reference)."""
    return errors.KintoError(400, errors.ERRNO.INVALID_POSTED_DATA, message)


def not_multipart() -> errors.KintoError:
    return errors.KintoError(
        400, errors.ERRNO.INVALID_PARAMETERS, "Content-Type should be multipart/form-data"
    )


def too_large(limit: int) -> errors.KintoError:
    return errors.KintoError(
        413,
        errors.ERRNO.INVALID_PARAMETERS,
        f"Request body is larger than {limit} bytes",
        error="Request Entity Too Large",
    )


@dataclass
class Upload:
    """What a multipart body held. `path` is the temporary file of the last `attachment`
    part (None when there was none, or when it was over the size limit)."""

    filename: str | None = None
    content_type: str | None = None
    path: str | None = None
    size: int = 0
    sha256: str = ""
    has_file_part: bool = False
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        """Remove the temporary file (a stored file was moved away already)."""
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None


class CountingReader:
    """The request body as a file, counting what was read (an upload cut short is refused)."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.request.read(size)
        self.read_bytes += len(chunk)
        return chunk


def request_limit(max_file_bytes: int | None, max_field_bytes: int) -> int | None:
    """The most bytes an upload's body may have: room for the file, the two text parts and
    the multipart framing (None: no limit, when files have none)."""
    if not max_file_bytes:
        return None
    return max_file_bytes + 2 * max_field_bytes + 64 * 1024


UPLOAD_PATH = re.compile(r"/buckets/([^/]+)/collections/([^/]+)/records/[^/]+/attachment$")


def spooled_upload_limit(scope: dict[str, Any]) -> Any:
    """For the ASGI bridge (`bridge.spool_bodies`): upload bodies are spooled to disk, not
    held in memory, within the collection's limit; False for any other request."""
    if scope.get("method") != "POST":
        return False
    match = UPLOAD_PATH.search(scope.get("path", ""))
    if match is None:
        return False
    from kinto_django.attachments.conf import attachment_settings
    from kinto_django.conf import kinto_settings

    max_file = attachment_settings.for_resource("max_size_bytes", *match.groups())
    return request_limit(max_file, kinto_settings.max_request_body_bytes)


def receive(request: HttpRequest, max_file_bytes: int | None, max_field_bytes: int) -> Upload:
    """Read a `multipart/form-data` body. Raises a KintoError for a body that is not one, a
    part other than `attachment`, `data` and `permissions`, or an incomplete body."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if media_type(content_type) != "multipart/form-data":
        raise not_multipart()
    _, params = parse_header_parameters(content_type)
    boundary = params.get("boundary") or ""
    if not BOUNDARY.fullmatch(boundary):
        raise not_multipart()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = request_limit(max_file_bytes, max_field_bytes)
    if limit is not None and length > limit:
        raise too_large(limit)
    upload = Upload()
    reader = CountingReader(request)
    try:
        if length > 0:
            stream = LazyStream(ChunkIter(reader, CHUNK_SIZE))
            for item_type, meta, part in Parser(stream, boundary.encode("ascii")):
                read_part(upload, item_type, meta, part, max_file_bytes, max_field_bytes)
                exhaust(part)
            exhaust(stream)
        if reader.read_bytes < length:
            raise posted_data_error("The request body is incomplete.")
    except MultiPartParserError as error:
        upload.discard()
        raise posted_data_error(f"Invalid multipart body ({error}).") from None
    except BaseException:
        upload.discard()
        raise
    return upload


def read_part(
    upload: Upload,
    item_type: str,
    meta: dict[str, Any],
    part: Any,
    max_file_bytes: int | None,
    max_field_bytes: int,
) -> None:
    disposition = meta.get("content-disposition")
    if disposition is None:
        return
    params = {key: text(value) for key, value in disposition[1].items()}
    name = params.get("name", "").strip()
    if name == FILE_FIELD:
        upload.has_file_part = True
        upload.discard()  # several `attachment` parts: the last one counts (as the reference)
        upload.filename = params.get("filename", "") if item_type == FILE else ""
        if item_type == FILE:
            declared = text(meta.get("content-type", ("", {}))[0])
            upload.content_type = declared.strip() or None
            receive_file(upload, part, max_file_bytes)
        return
    if name in FORM_FIELDS and item_type == FIELD:
        raw = part.read(max_field_bytes + 1)
        if len(raw) > max_field_bytes:
            raise too_large(max_field_bytes)
        try:
            upload.fields[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise posted_data_error(f"body: {name} is not valid UTF-8") from None
        return
    raise posted_data_error(f"body: {name!r} not in ('data', 'permissions')")


def text(value: Any) -> str:
    """A header value as text (Django's parser gives parameters as UTF-8 bytes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def receive_file(upload: Upload, part: Any, max_file_bytes: int | None) -> None:
    """Stream a file part to a temporary file, hashing it; past the size limit, only count
    (the error tells the file's size, as the reference)."""
    digest = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, removed by discard()
        prefix="kinto-attachment-", dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False
    )
    upload.path = handle.name
    try:
        for chunk in part:
            size += len(chunk)
            if handle is not None:
                if max_file_bytes and size > max_file_bytes:
                    handle.close()
                    handle = None
                    upload.discard()
                    continue
                digest.update(chunk)
                handle.write(chunk)
    finally:
        if handle is not None:
            handle.close()
    upload.size = size
    upload.sha256 = digest.hexdigest()
