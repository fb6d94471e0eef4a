"""How attachments follow their records: metadata that ordinary writes may not change, files
deleted with their record, collection or bucket (after commit, unless `keep_old_files`), the
capability and the heartbeat.

Receivers of the engine's signals (connected in `AttachmentsConfig.ready()`); the engine
knows nothing of attachments.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from functools import partial
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest

from kinto_django import errors
from kinto_django.attachments import storage
from kinto_django.attachments.conf import attachment_settings
from kinto_django.attachments.models import StoredFile
from kinto_django.records.models import Record

logger = logging.getLogger(__name__)

# The version of kinto-attachment whose protocol this app speaks (spec/07).
VERSION = "9.0.0"

_attaching: contextvars.ContextVar[bool] = contextvars.ContextVar("kinto_attaching", default=False)


@contextlib.contextmanager
def attaching() -> Iterator[None]:
    """Writes of the attachment endpoints themselves, which do change the metadata."""
    token = _attaching.set(True)
    try:
        yield
    finally:
        _attaching.reset(token)


def metadata_modified() -> errors.KintoError:
    return errors.KintoError(
        400, errors.ERRNO.UNDEFINED, "Attachment metadata cannot be modified."
    )


def guard_metadata(
    sender: type, action: str, impacted: list[dict[str, Any]], **kwargs: Any
) -> None:
    """Receiver of `resource_written`: an ordinary write of a record (PUT, PATCH, batch,
    admin) may set `attachment` from null or leave it out, not change it (spec/07)."""
    if not issubclass(sender, Record) or action != "update" or _attaching.get():
        return
    for change in impacted:
        old, new = change.get("old") or {}, change.get("new") or {}
        previous = old.get("attachment")
        if previous is not None and "attachment" in new and new["attachment"] != previous:
            raise metadata_modified()


def keeps_old_files(uri: str) -> bool:
    """`keep_old_files` for the collection of a record path (`/buckets/b/collections/c/…`)."""
    parts = uri.split("/")
    if len(parts) < 5:
        return attachment_settings.keep_old_files
    return attachment_settings.for_resource("keep_old_files", parts[2], parts[4])


def release(files: models.QuerySet) -> list[str]:
    """Forget the files of a queryset of the ledger and delete them once the transaction
    commits, except those of collections that keep old files (their rows stay, so that the
    orphans command leaves them alone). Returns the names to be deleted."""
    doomed = [
        (pk, name)
        for pk, name, uri in files.values_list("pk", "name", "uri")
        if not keeps_old_files(uri)
    ]
    if not doomed:
        return []
    StoredFile.objects.filter(pk__in=[pk for pk, _ in doomed]).delete()
    names = [name for _, name in doomed]
    transaction.on_commit(partial(storage.delete_files, names), robust=True)
    return names


def forget_files(sender: type, queryset: models.QuerySet, **kwargs: Any) -> None:
    """Receiver of `resources_purged`: the files of deleted records, and of the records of
    deleted collections and buckets, go after commit."""
    if issubclass(sender, Record):
        release(StoredFile.objects.of_records(queryset))


def forget_ledger(**kwargs: Any) -> None:
    """Receiver of `server_flushed`: the flush leaves files in place (as the reference); the
    ledger goes with the records, and `kinto_attachments_orphans` can remove the files."""
    StoredFile.objects.all().delete()


def capability_extras() -> dict[str, Any]:
    return {"version": VERSION}


def capability_base_url(request: HttpRequest) -> dict[str, Any]:
    """`base_url` of the capability: `attachment.extra.base_url`, else the locations' prefix
    (null when locations are relative and no extra base URL is set)."""
    extra = attachment_settings.extra_base_url
    if extra:
        return {"base_url": extra if extra.endswith("/") else extra + "/"}
    return {"base_url": storage.base_url(request) or None}


def heartbeat() -> bool:
    return storage.check_health()
