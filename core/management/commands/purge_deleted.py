"""`manage.py purge_deleted --older-than 30d`: remove old tombstones, safe on a live server.

Tombstones tell syncing clients about deletions (`_since`); a client that last synced before
the purge horizon will not learn about the deletions purged since, so pick an age longer
than any client stays offline. Live objects are never touched.
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from core import retention, timestamps
from core.models import ResourceModel

PROGRESS_INTERVAL_SECONDS = 2.0


def resource_models() -> dict[str, type[ResourceModel]]:
    """Every installed concrete resource type, by resource name."""
    return {
        model.resource_name: model
        for model in apps.get_models()
        if issubclass(model, ResourceModel) and not model._meta.abstract
    }


class Command(BaseCommand):
    help = "Delete tombstones older than an age, in short batches (safe while serving)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--older-than", required=True, help="Age such as 30d, 12h, 90m (required)."
        )
        parser.add_argument(
            "--resource",
            action="append",
            help="Only this resource type (record, collection, …); repeatable. Default: all.",
        )
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
        models = resource_models()
        chosen = options["resource"] or sorted(models)
        unknown = sorted(set(chosen) - set(models))
        if unknown:
            raise CommandError(
                f"Unknown resource {', '.join(unknown)}; one of {', '.join(sorted(models))}"
            )
        cutoff = timestamps.now_ms() - age_ms
        grand_total = 0
        for name in chosen:
            removed = retention.delete_in_batches(
                models[name],
                Q(deleted=True, last_modified__lt=cutoff),
                options["batch_size"],
                self.progress_printer(name),
                options["pause"],
            )
            self.stdout.write(f"{name}: {removed} tombstones removed")
            grand_total += removed
        self.stdout.write(
            f"Done: {grand_total} tombstones older than {options['older_than']} removed"
        )

    def progress_printer(self, name: str):
        last_print = time.monotonic()

        def show(total: int) -> None:
            nonlocal last_print
            if time.monotonic() - last_print >= PROGRESS_INTERVAL_SECONDS:
                self.stdout.write(f"{name}: {total} tombstones removed so far…")
                self.stdout.flush()
                last_print = time.monotonic()

        return show
