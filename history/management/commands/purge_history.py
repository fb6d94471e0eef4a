"""`manage.py purge_history --older-than 30d [--bucket shop]`: delete old history entries.

Safe on a live server: entries go in short batches, each its own transaction (see
`core.retention`); writers only ever add newer entries, so nothing they do conflicts with
the purge beyond one batch's row locks.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from buckets.models import Bucket
from core import retention, timestamps
from history.models import HistoryEntry

PROGRESS_INTERVAL_SECONDS = 2.0


class Command(BaseCommand):
    help = "Delete history entries older than an age, in short batches (safe while serving)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--older-than", required=True, help="Age such as 30d, 12h, 90m (required)."
        )
        parser.add_argument("--bucket", help="Only the history of this bucket id.")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--pause", type=float, default=0.0, help="Seconds to wait between batches."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            age_ms = retention.parse_age(options["older_than"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        # An entry's timestamp is the time it was written.
        condition = Q(last_modified__lt=timestamps.now_ms() - age_ms)
        bucket_id = options["bucket"]
        if bucket_id is not None:
            bucket = Bucket.objects.filter(object_id=bucket_id).first()
            if bucket is None:
                raise CommandError(f"No bucket {bucket_id!r}")
            condition &= Q(bucket=bucket)
        removed = retention.delete_in_batches(
            HistoryEntry,
            condition,
            options["batch_size"],
            self.progress_printer(),
            options["pause"],
        )
        where = f" of bucket {bucket_id}" if bucket_id is not None else ""
        self.stdout.write(
            f"Done: {removed} history entries{where} older than {options['older_than']} removed"
        )

    def progress_printer(self):
        last_print = time.monotonic()

        def show(total: int) -> None:
            nonlocal last_print
            if time.monotonic() - last_print >= PROGRESS_INTERVAL_SECONDS:
                self.stdout.write(f"{total} history entries removed so far…")
                self.stdout.flush()
                last_print = time.monotonic()

        return show
