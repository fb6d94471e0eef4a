"""Where attachment files go: the storage backend chosen by the settings, the names files are
stored under, and their public locations.

The backend is a Django storage: `FileSystemStorage` on `attachment.base_path` by default,
django-storages' `S3Storage` (any S3-compatible store) with `attachment.storage = s3`, the
dotted path of another storage class, or the site's `STORAGES["kinto_attachments"]`.
Stored names are generated (a UUID and the checked extension by default): nothing a client
sends reaches a path except through `safe_segment`, which keeps `[A-Za-z0-9._-]` only.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.urls import reverse
from django.utils.module_loading import import_string

from kinto_django.attachments.conf import attachment_settings
from kinto_django.conf import kinto_settings
from kinto_django.core.api.locations import absolute_url

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "kinto_attachments"
SERVING_ROUTE = "kinto:attachment-file"
MAX_SEGMENT_LENGTH = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

_backend: Storage | None = None


def backend() -> Storage:
    """The storage files are written to (built once, rebuilt when settings change)."""
    global _backend
    if _backend is None:
        _backend = build_backend()
    return _backend


def build_backend() -> Storage:
    if STORAGE_ALIAS in getattr(settings, "STORAGES", {}):
        return storages[STORAGE_ALIAS]
    kind = attachment_settings.storage
    if kind == "local":
        base_path = attachment_settings.base_path
        if not base_path:
            raise RuntimeError("attachment.base_path is not set (see the README)")
        # No `base_url`: locations are built by `location()`, not by the storage.
        return FileSystemStorage(location=base_path, base_url="/")
    if kind == "s3":
        from storages.backends.s3 import S3Storage

        # Never overwrite: a file stored under a name already taken keeps its own.
        return S3Storage(**{"file_overwrite": False, **attachment_settings.s3_options()})
    return import_string(kind)()


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _backend
    if setting in ("KINTO", "STORAGES"):
        _backend = None


setting_changed.connect(_reset)


def is_local(storage: Storage) -> bool:
    """Whether files are on this machine's disk (served with `FileResponse`)."""
    return isinstance(storage, FileSystemStorage)


def safe_segment(text: str, *, keep_dots: bool = True) -> str:
    """A file or folder name made of `[A-Za-z0-9._-]`, never `.`/`..` nor hidden."""
    cleaned = _UNSAFE.sub("_", text if keep_dots else text.replace(".", "_"))
    cleaned = cleaned.lstrip(".-_")[:MAX_SEGMENT_LENGTH]
    return cleaned or "file"


def extension_of(filename: str) -> str:
    """The lower-cased extension of a client's file name, without the dot ('' if none)."""
    base = re.split(r"[\\/]", filename)[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot or not stem.strip("."):
        return ""
    return extension.lower()


def folder_for(bucket_id: str, collection_id: str) -> str:
    """The sub-folder of a collection's files (`attachment.folder`, placeholders filled)."""
    pattern = attachment_settings.for_resource("folder", bucket_id, collection_id) or ""
    text = pattern.replace("{bucket_id}", bucket_id).replace("{collection_id}", collection_id)
    parts = [safe_segment(part) for part in text.split("/") if part.strip(" .")]
    return "/".join(parts)


def stored_name(filename: str, bucket_id: str, collection_id: str, record_id: str) -> str:
    """The name a new file is stored under: `[folder/]<uuid>.<ext>` by default; with
    `filename_pattern`, its `{filename}`, `{rid}` and `{datetime}` placeholders filled with
    sanitized values; with `randomize = false`, the sanitized original name."""
    extension = safe_segment(extension_of(filename), keep_dots=False)[:16]
    suffix = f".{extension}" if extension_of(filename) else ""
    base_name = re.split(r"[\\/]", filename)[-1]
    pattern = attachment_settings.for_resource("filename_pattern", bucket_id, collection_id)
    if pattern:
        moment = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
        text = (
            pattern.replace("{filename}", base_name)
            .replace("{rid}", record_id)
            .replace("{datetime}", moment)
        )
        name = safe_segment(text)
        if suffix and not name.lower().endswith(suffix):
            name += suffix
    elif attachment_settings.for_resource("randomize", bucket_id, collection_id):
        name = f"{uuid.uuid4()}{suffix}"
    else:
        name = safe_segment(base_name)
    folder = folder_for(bucket_id, collection_id)
    return f"{folder}/{name}" if folder else name


class MovableFile(File):
    """A finished upload's temporary file: a local storage moves it instead of copying it."""

    def __init__(self, path: str, name: str) -> None:
        super().__init__(open(path, "rb"), name=name)  # noqa: SIM115 - closed by store()
        self.path = path

    def temporary_file_path(self) -> str:
        return self.path


def store(path: str, name: str) -> str:
    """Put the file at `path` into the storage under `name` (or a free variant of it, which
    is returned). Large files are moved (local) or sent in parts (S3), never read whole.

    A local file written half way (its disk filled, the copy failed) is deleted: the name is
    chosen free beforehand, so nothing else owns it. (An object store keeps no part of a
    failed upload.)"""
    storage = backend()
    local = is_local(storage)
    if local:
        name = storage.get_available_name(name)
    content = MovableFile(path, name)
    try:
        return storage.save(name, content)
    except BaseException:
        if local:
            with contextlib.suppress(OSError):
                os.remove(storage.path(name))
        raise
    finally:
        content.close()


def delete_files(names: Iterable[str]) -> None:
    """Delete stored files; a failure is logged (the orphans command will find the file)."""
    storage = backend()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # noqa: BLE001 - a leftover file must not fail the request
            logger.exception("Could not delete attachment file %r", name)


def serving_prefix() -> str:
    """The path under which this server serves stored files (`/v1/attachments/`)."""
    return reverse(SERVING_ROUTE, kwargs={"name": "x"})[:-1]


def base_url(request: HttpRequest | None) -> str | None:
    """The prefix of locations: `attachment.base_url` (a `/` added), the server's own file
    URL when it is unset, or '' (relative locations) when it is set empty."""
    configured = attachment_settings.base_url
    if configured is None:
        if request is None:
            return None
        return absolute_url(request, serving_prefix())
    if configured and not configured.endswith("/"):
        configured += "/"
    return configured


def location(request: HttpRequest, name: str) -> str:
    return f"{base_url(request) or ''}{name}"


def name_from_location(value: Any, request: HttpRequest | None = None) -> str | None:
    """The stored name a `location` points at, when it points into this server's storage
    (used by the orphans command to keep files that records name)."""
    if not isinstance(value, str) or not value:
        return None
    configured = attachment_settings.base_url
    if configured:
        prefix = configured if configured.endswith("/") else configured + "/"
        return value[len(prefix) :] if value.startswith(prefix) else None
    if configured == "":
        return value.lstrip("/") if "://" not in value else None
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(value).path)
    prefix = serving_prefix()
    return path[len(prefix) :] if path.startswith(prefix) else None


def listing(storage: Storage, folder: str = "") -> Iterable[str]:
    """Every file name under a folder of the storage, recursively."""
    try:
        directories, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for filename in files:
        yield f"{folder}/{filename}" if folder else filename
    for directory in directories:
        yield from listing(storage, f"{folder}/{directory}" if folder else directory)


def check_health() -> bool:
    """Write, read back and delete a small file (the heartbeat's `attachments` key); on a
    read-only node, which writes nothing, list the storage's top folder."""
    storage = backend()
    if kinto_settings.readonly:
        storage.listdir("")
        return True
    name = f"heartbeat/{uuid.uuid4()}.txt"
    from django.core.files.base import ContentFile

    saved = storage.save(name, ContentFile(b"ok"))
    try:
        with storage.open(saved) as handle:
            return handle.read() == b"ok"
    finally:
        with contextlib.suppress(Exception):
            storage.delete(saved)


def local_path(name: str) -> str | None:
    """The path of a stored file on this machine (None when the storage is not local or the
    name escapes it)."""
    storage = backend()
    if not is_local(storage):
        return None
    from django.core.exceptions import SuspiciousFileOperation

    try:
        path = storage.path(name)
    except (SuspiciousFileOperation, ValueError):
        return None
    return path if os.path.isfile(path) else None
