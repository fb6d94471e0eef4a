"""Fixtures of the attachment tests: a storage folder of each test's own, and multipart
bodies built byte by byte (so that hostile ones can be sent too)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from kinto_django import jsonutil
from tests import factories
from tests.conftest import Api

BOUNDARY = "kintoboundary7MA4YWxkTrZu0gW"
RECORD = f"{factories.RECORDS}/r1"
ATTACHMENT = f"{RECORD}/attachment"


def part(name: str, content: bytes, filename: str | None = None, content_type: str | None = None):
    """One multipart part (`filename` None: a text field)."""
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"Content-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode("utf-8") + b"\r\n" + content


def multipart(*parts: bytes, boundary: str = BOUNDARY) -> bytes:
    body = b""
    for item in parts:
        body += f"--{boundary}\r\n".encode() + item + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def form(
    content: bytes = b"hello",
    filename: str | None = "hello.txt",
    content_type: str | None = "text/plain",
    data: Any = None,
    permissions: Any = None,
) -> bytes:
    parts = []
    if filename is not None or content is not None:
        parts.append(part("attachment", content, filename, content_type))
    if data is not None:
        parts.append(part("data", data if isinstance(data, bytes) else jsonutil.dumps(data)))
    if permissions is not None:
        raw = permissions if isinstance(permissions, bytes) else jsonutil.dumps(permissions)
        parts.append(part("permissions", raw))
    return multipart(*parts)


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def upload(api: Any, path: str = ATTACHMENT, body: bytes | None = None, **kwargs: Any):
    """POST a multipart body (`form()` by default) to an attachment URL."""
    headers = kwargs.pop("headers", None)
    user = kwargs.pop("user", "default")
    raw = body if body is not None else form(**kwargs)
    return api.post(path, raw=raw, content_type=MULTIPART, headers=headers, user=user)


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def api(transactional_db: Any) -> Api:
    """As the suite's `api`, in a database that really commits: files are deleted, and
    events sent, once the write has committed (`transaction.on_commit`)."""
    return Api(Client(), user="alice")


@pytest.fixture
def anonymous(transactional_db: Any) -> Api:
    return Api(Client(), user=None)


@pytest.fixture
def files_dir(tmp_path: Path, kinto_settings: Any) -> Path:
    """Each test stores its files in a folder of its own."""
    folder = tmp_path / "attachments"
    folder.mkdir()
    kinto_settings(attachment_base_path=str(folder))
    return folder


@pytest.fixture
def collection(api: Any, files_dir: Path) -> dict:
    return factories.collection(api)


def stored_files(folder: Path) -> list[str]:
    """Files in the storage (the heartbeat's folder aside)."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not str(p.relative_to(folder)).startswith("heartbeat/")
    )
