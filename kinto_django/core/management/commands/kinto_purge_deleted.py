"""`manage.py kinto_purge_deleted --older-than 30d`: remove old tombstones, safe on a live server.

Tombstones tell syncing clients about deletions (`_since`); a client that last synced before
the purge horizon will not learn about the deletions purged since, so pick an age longer
than any client stays offline. Live objects are never touched.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.db.models import Q

from kinto_django.core.models import ResourceModel, resource_types
from kinto_django.core.retention import purge


def resource_models() -> dict[str, type[ResourceModel]]:
    """Every installed resource type that keeps tombstones, by resource name."""
    return {model.resource_name: model for model in resource_types() if model.keeps_tombstones}


class Command(purge.PurgeCommand):
    help = "Delete tombstones older than an age, in short batches (safe while serving)."

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--resource",
            action="append",
            help="Only this resource type (record, collection, …); repeatable. Default: all.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = self.cutoff(options)
        models = resource_models()
        chosen = options["resource"] or sorted(models)
        unknown = sorted(set(chosen) - set(models))
        if unknown:
            raise CommandError(
                f"Unknown resource {', '.join(unknown)}; one of {', '.join(sorted(models))}"
            )
        grand_total = 0
        for name in chosen:
            removed = purge.delete_in_batches(
                models[name],
                Q(deleted=True, last_modified__lt=cutoff),
                options["batch_size"],
                self.progress_printer(
                    lambda total, name=name: f"{name}: {total} tombstones removed so far…"
                ),
                options["pause"],
            )
            self.stdout.write(f"{name}: {removed} tombstones removed")
            grand_total += removed
        self.stdout.write(
            f"Done: {grand_total} tombstones older than {options['older_than']} removed"
        )
