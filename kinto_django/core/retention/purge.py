"""Removing old rows from a live server: ages such as `30d`, and deletes in short batches.

Each batch is its own short transaction, so requests keep being served between batches
(SQLite's single writer and PostgreSQL's row locks are held only for one batch), and a
row's condition is checked again by the `DELETE` itself, so a row that changed in between
(a tombstone revived by a new `PUT`) is never removed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

AGE_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
AGE_PATTERN = re.compile(r"(\d+)([smhdw])")


def parse_age(text: str) -> int:
    """`90s`, `15m`, `12h`, `30d`, `2w` (or a sum such as `1d12h`) in milliseconds."""
    cleaned = text.strip().lower()
    parts = AGE_PATTERN.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(f"{text!r} is not an age such as 30d, 12h, 15m, 90s or 2w")
    return sum(int(number) * AGE_UNITS_MS[unit] for number, unit in parts)


def delete_in_batches(
    model: type[models.Model],
    condition: models.Q,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
    pause_seconds: float = 0.0,
) -> int:
    """Delete the rows of `model` matching `condition`, `batch_size` at a time in primary-key
    order (each batch reads forward from the last key: the whole walk costs one pass over
    the table). Returns how many rows were deleted."""
    last_pk = None
    total = 0
    while True:
        with transaction.atomic():
            candidates = model._default_manager.filter(condition)
            if last_pk is not None:
                candidates = candidates.filter(pk__gt=last_pk)
            keys = list(candidates.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not keys:
                return total
            doomed = model._default_manager.filter(condition, pk__in=keys)
            total += doomed._raw_delete(doomed.db) or 0
            last_pk = keys[-1]
        if progress is not None:
            progress(total)
        if pause_seconds:
            time.sleep(pause_seconds)


class PurgeCommand(BaseCommand):
    """What the purge commands share: `--older-than`, `--batch-size`, `--pause`, the cutoff
    timestamp and a progress line at most every two seconds."""

    PROGRESS_INTERVAL_SECONDS = 2.0

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--older-than", required=True, help="Age such as 30d, 12h, 90m (required)."
        )
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--pause", type=float, default=0.0, help="Seconds to wait between batches."
        )

    def cutoff(self, options: dict[str, Any]) -> int:
        """The timestamp below which rows go, after checking the common options."""
        try:
            age_ms = parse_age(options["older_than"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        from kinto_django.core import timestamps

        return timestamps.now_ms() - age_ms

    def progress_printer(self, describe: Callable[[int], str]) -> Callable[[int], None]:
        last_print = time.monotonic()

        def show(total: int) -> None:
            nonlocal last_print
            if time.monotonic() - last_print >= self.PROGRESS_INTERVAL_SECONDS:
                self.stdout.write(describe(total))
                self.stdout.flush()
                last_print = time.monotonic()

        return show
