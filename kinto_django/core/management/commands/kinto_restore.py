"""`manage.py kinto_restore FILE`: validate a backup, then restore it in one transaction.

Nothing is written unless the whole file is valid; a conflict rolls everything back. A
restore sends no events (no listener, webhook or history entry sees it) and keeps every
timestamp as it is in the file.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kinto_django.core.backup import restore
from kinto_django.core.backup.lines import BackupFileError
from kinto_django.core.backup.progress import stderr_progress


class Command(BaseCommand):
    help = (
        "Restore a backup written by kinto_backup (plain or gzip; - reads standard input): "
        "ids, timestamps, tombstones, list timestamps and permissions, all or nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="The backup file, or - for standard input.")
        parser.add_argument(
            "--on-conflict",
            choices=restore.CONFLICT_MODES,
            default="fail",
            help="When an object of the file already exists: fail (the default; nothing is "
            "restored), skip it (keep the stored one), or replace it.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and apply in a transaction that is rolled back; report only.",
        )
        parser.add_argument("--quiet", action="store_true", help="No progress bar and no summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        path, quiet = options["file"], options["quiet"]
        try:
            report = restore.restore(
                path,
                on_conflict=options["on_conflict"],
                dry_run=options["dry_run"],
                progress=stderr_progress("Restore", quiet, self.stderr),
                validation_progress=stderr_progress("Validate", quiet, self.stderr),
            )
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}") from None
        except BackupFileError as error:
            raise CommandError(f"{path}, {error}. Nothing was restored.") from None
        except restore.RestoreError as error:
            raise CommandError(f"{path}: {error}\nNothing was restored.") from None
        if quiet:
            return
        prefix = (
            f"Dry run of {path} (nothing was written): would have"
            if options["dry_run"]
            else f"Restored {path}:"
        )
        parts = [
            f"{verb} {', '.join(f'{count} {name}' for name, count in counts.items())}"
            for verb, counts in (
                ("created", report.created),
                ("replaced", report.replaced),
                ("skipped", report.skipped),
            )
            if counts
        ]
        parts.append(f"{report.list_timestamps} list timestamps")
        self.stdout.write(f"{prefix} {'; '.join(parts)}.")
