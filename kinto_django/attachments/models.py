"""The files this server stored, and the record each belongs to.

Files are deleted only through this ledger: a record's `attachment` metadata can be written by
any writer of the record (from `null`, as the reference allows), so its `location` proves
nothing, and deleting whatever file it names would let a writer delete other records' files.
A row is written in the transaction of the record change that attaches the file, and removed
with the file. No foreign key constraint: records purged with their collection or bucket are
deleted without Django's cascade (`kinto_django.core.actions.purge_children`); their rows are
found by `record_row_id` and removed in the same transaction.
"""

from __future__ import annotations

from django.db import models

from kinto_django.records.models import Record


class StoredFileQuerySet(models.QuerySet):
    """Queries on the ledger."""

    def of_records(self, records: models.QuerySet) -> StoredFileQuerySet:
        """Files of the given records (a queryset of `Record`)."""
        return self.filter(record_id__in=records.values("pk"))


class StoredFile(models.Model):
    """One stored file: its name in the storage and the record it is attached to."""

    name = models.CharField(max_length=1024, unique=True)
    record = models.ForeignKey(
        Record,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="stored_files",
    )
    # The record's path when the file was stored (for operators; ids never change).
    uri = models.TextField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)

    objects = StoredFileQuerySet.as_manager()

    class Meta:
        verbose_name = "attachment file"

    def __str__(self) -> str:
        return self.name
