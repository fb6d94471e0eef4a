"""`manage.py kinto_purge_history --older-than 30d [--bucket shop]`: delete old history entries.

Safe on a live server: entries go in short batches, each its own transaction (see
`kinto_django.core.retention.purge`); writers only ever add newer entries, so nothing they do conflicts with
the purge beyond one batch's row locks.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.db.models import Q

from kinto_django.buckets.models import Bucket
from kinto_django.core.retention import purge
from kinto_django.history.models import HistoryEntry


class Command(purge.PurgeCommand):
    help = "Delete history entries older than an age, in short batches (safe while serving)."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument("--bucket", help="Only the history of this bucket id.")

    def handle(self, *args: Any, **options: Any) -> None:
        # An entry's timestamp is the time it was written.
        condition = Q(last_modified__lt=self.cutoff(options))
        bucket_id = options["bucket"]
        if bucket_id is not None:
            bucket = Bucket.objects.filter(object_id=bucket_id).first()
            if bucket is None:
                raise CommandError(f"No bucket {bucket_id!r}")
            condition &= Q(bucket=bucket)
        removed = purge.delete_in_batches(
            HistoryEntry,
            condition,
            options["batch_size"],
            self.progress_printer(lambda total: f"{total} history entries removed so far…"),
            options["pause"],
        )
        where = f" of bucket {bucket_id}" if bucket_id is not None else ""
        self.stdout.write(
            f"Done: {removed} history entries{where} older than {options['older_than']} removed"
        )
