"""A progress bar for the backup and restore commands (only on a terminal)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """A one-line progress bar on a terminal; silent on anything else."""

    REDRAW_SECONDS = 0.2

    def __init__(self, stream: TextIO | None, label: str, total: int | None = None) -> None:
        self.stream = stream if stream is not None and _is_terminal(stream) else None
        self.label = label
        self.total = total
        self.done_count = 0
        self.started = time.monotonic()
        self.drawn = 0.0

    def set_total(self, total: int) -> None:
        """The count to reach; the rate is measured from now on."""
        self.total = total
        self.started = time.monotonic()

    def advance(self, count: int) -> None:
        self.done_count += count
        if self.stream is not None and time.monotonic() - self.drawn >= self.REDRAW_SECONDS:
            self.draw()

    def draw(self) -> None:
        assert self.stream is not None
        self.drawn = time.monotonic()
        rate = self.done_count / max(self.drawn - self.started, 1e-6)
        if self.total:
            share = min(self.done_count / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = (
                f"\r{self.label} [{bar:<30}] {share:6.1%} "
                f"{self.done_count}/{self.total} ({rate:,.0f}/s)"
            )
        else:
            text = f"\r{self.label} {self.done_count} ({rate:,.0f}/s)"
        self.stream.write(text)
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is not None:
            self.draw()
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def stderr_progress(label: str, quiet: bool, stream: TextIO | None = None) -> Progress:
    """The progress bar of a command: on its stderr when that is a terminal (a command's
    `OutputWrapper` is unwrapped: it would end every redraw with a newline)."""
    target = getattr(stream, "_out", stream) or sys.stderr
    return Progress(None if quiet else target, label)
