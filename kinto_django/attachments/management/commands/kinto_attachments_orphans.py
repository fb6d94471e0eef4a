"""`manage.py kinto_attachments_orphans`: find, and with `--delete` remove, stored files that
no record refers to (left by a process killed between storing a file and committing its
record, by a flush, by `keep_old_files` changed afterwards…).

A file is kept when the ledger of stored files names it or a live record's `attachment`
points at it (records restored from a backup are not in the ledger), and when it is younger
than `attachment.orphan_grace_seconds` (an upload may be between its store and its commit).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from kinto_django.attachments import storage
from kinto_django.attachments.conf import attachment_settings
from kinto_django.attachments.models import StoredFile
from kinto_django.core.backup.progress import stderr_progress
from kinto_django.records.models import Record

HEARTBEAT_FOLDER = "heartbeat"


def referenced_names() -> set[str]:
    """Names the ledger holds, and those live records point at."""
    names = set(StoredFile.objects.values_list("name", flat=True))
    records = Record.objects.alive().filter(data__has_key="attachment")
    for data in records.values_list("data", flat=True).iterator(chunk_size=2000):
        attachment = data.get("attachment") if isinstance(data, dict) else None
        if isinstance(attachment, dict):
            name = storage.name_from_location(attachment.get("location"))
            if name:
                names.add(name)
    return names


class Command(BaseCommand):
    help = (
        "List stored attachment files that no record refers to; --delete removes them "
        "(a dry run by default)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--delete", action="store_true", help="Remove the orphan files.")
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=None,
            help="Leave files younger than this alone (default: attachment.orphan_grace_seconds).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
        parser.add_argument(
            "--missing",
            action="store_true",
            help="Instead, list the records whose file is not in the storage (after a "
            "restore, to check that the files were restored too).",
        )

    def missing(self) -> None:
        backend = storage.backend()
        records = Record.objects.alive().filter(data__has_key="attachment")
        count = 0
        for record in records.select_related("collection__bucket").iterator(chunk_size=2000):
            attachment = record.data.get("attachment")
            if not isinstance(attachment, dict):
                continue
            name = storage.name_from_location(attachment.get("location"))
            if name is None or not backend.exists(name):
                count += 1
                self.stdout.write(f"{record.uri}\t{attachment.get('location')}")
        self.stderr.write(f"{count} record(s) whose file is missing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["missing"]:
            self.missing()
            return
        backend = storage.backend()
        grace = options["grace_seconds"]
        if grace is None:
            grace = attachment_settings.orphan_grace_seconds
        cutoff = timezone.now() - datetime.timedelta(seconds=grace)
        known = referenced_names()
        names = sorted(storage.listing(backend))
        progress = stderr_progress("Checking files", options["no_progress"], self.stderr)
        progress.set_total(len(names))
        orphans: list[str] = []
        for name in names:
            progress.advance(1)
            if name in known or name.startswith(f"{HEARTBEAT_FOLDER}/"):
                continue
            try:
                modified = backend.get_modified_time(name)
            except (NotImplementedError, OSError):
                modified = None
            if modified is not None and modified > cutoff:
                continue
            orphans.append(name)
        progress.finish()
        for name in orphans:
            self.stdout.write(name)
        if options["delete"]:
            storage.delete_files(orphans)
            summary = f"Deleted {len(orphans)} orphan file(s) of {len(names)}."
        else:
            summary = (
                f"{len(orphans)} orphan file(s) of {len(names)} (dry run: nothing deleted; "
                "use --delete to remove them)."
            )
        self.stderr.write(summary)
