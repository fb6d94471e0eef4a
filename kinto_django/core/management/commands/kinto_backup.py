"""`manage.py kinto_backup`: a consistent JSON Lines backup, safe while the server serves.

The format is described in docs/backup-format.md; `manage.py kinto_restore` reads it back.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError

from kinto_django.core.backup import dump
from kinto_django.core.backup.kinds import BUCKET, installed_kinds, optional_flags
from kinto_django.core.backup.progress import stderr_progress


class Command(BaseCommand):
    help = (
        "Write a backup of buckets, collections, groups, records and their permissions "
        "(JSON Lines, from one consistent snapshot; the server keeps serving)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--bucket",
            action="append",
            dest="buckets",
            metavar="ID",
            help="Only this bucket and everything in it (repeatable). Default: everything.",
        )
        parser.add_argument(
            "--output",
            default="-",
            metavar="FILE",
            help="Where to write the backup; - (the default) is standard output.",
        )
        parser.add_argument("--gzip", action="store_true", help="Compress with gzip.")
        parser.add_argument(
            "--tombstones",
            action="store_true",
            help="Keep deleted objects, so that restored lists still tell syncing clients "
            "about deletions.",
        )
        for option, text in optional_flags().items():
            parser.add_argument(f"--{option}", action="store_true", help=text)
        parser.add_argument("--quiet", action="store_true", help="No progress bar and no summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        buckets = options["buckets"]
        if buckets is not None:
            self.check_buckets(buckets)
        include = {option for option in optional_flags() if options.get(option)}
        to_stdout = options["output"] == "-"
        progress = stderr_progress("Backup", options["quiet"], self.stderr)
        with self.destination(options["output"]) as raw:
            stream: BinaryIO = (
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
                if options["gzip"]
                else raw
            )
            try:
                result = dump.write_backup(
                    stream,
                    buckets=buckets,
                    tombstones=options["tombstones"],
                    include=include,
                    progress=progress,
                )
            finally:
                if stream is not raw:
                    stream.close()
        if not options["quiet"]:
            counts = ", ".join(
                f"{count} {'list timestamps' if name == 'list' else name}"
                for name, count in result.counts.items()
            )
            where = "standard output" if to_stdout else options["output"]
            summary = f"Backed up {counts or 'nothing'} to {where} ({result.lines} lines)."
            (self.stderr if to_stdout else self.stdout).write(summary)

    def check_buckets(self, buckets: list[str]) -> None:
        kinds = {kind.name: kind for kind in installed_kinds()}
        model = kinds[BUCKET].model
        found = set(
            model.objects.filter(object_id__in=buckets).values_list("object_id", flat=True)
        )
        missing = [bucket for bucket in buckets if bucket not in found]
        if missing:
            raise CommandError(f"No bucket {', '.join(missing)}")

    @contextlib.contextmanager
    def destination(self, output: str):
        """Standard output, or a temporary file renamed to `output` once complete (a failed
        backup never leaves a file that looks finished); devices and pipes are written to."""
        if output == "-":
            out = getattr(self.stdout._out, "buffer", None) or sys.stdout.buffer
            try:
                yield out
                out.flush()
            except BrokenPipeError:
                raise CommandError("Standard output was closed before the backup ended") from None
            return
        target = Path(output)
        if target.is_dir():
            raise CommandError(f"{output} is a directory")
        if target.exists() and not target.is_file():
            # A device or a pipe (/dev/null, a FIFO) is written as it is, never replaced.
            with open(target, "wb") as raw:
                yield raw
            return
        try:
            # Readable by its owner only: a backup may hold password hashes.
            fd, partial = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".partial", dir=target.parent or "."
            )
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error}") from None
        try:
            with os.fdopen(fd, "wb") as raw:
                yield raw
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
