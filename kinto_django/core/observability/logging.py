"""Structured logs: one summary line per API request, request ids, and a JSON formatter.

The protocol middleware sends one `kinto.request.summary` record per request, its fields in
`record.fields`. With `log_format = json` every log line (summaries, warnings, tracebacks)
is one JSON object, for log pipelines; `text` shows the same summary as a readable line.
Records emitted while a request is served carry its request id.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from kinto_django import jsonutil

summary_logger = logging.getLogger("kinto.request.summary")

# The id of the request this thread (or task) is serving, for every record it logs.
current_request_id: ContextVar[str | None] = ContextVar("kinto_request_id", default=None)


def iso_time(timestamp: float) -> str:
    """UTC ISO 8601 with milliseconds: sortable, and unambiguous across hosts."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def summary_enabled() -> bool:
    """Whether summaries are logged at all (`log_level` above INFO turns them off): the
    middleware then skips gathering their fields."""
    return summary_logger.isEnabledFor(logging.INFO)


def log_request_summary(fields: dict[str, Any]) -> None:
    """The summary of one request: a readable message, the fields for the JSON formatter."""
    summary_logger.info(
        "%s %s %s %.1fms db=%.1fms/%d uid=%s rid=%s",
        fields["method"],
        fields["path"],
        fields["status"],
        fields["duration_ms"],
        fields["db_ms"],
        fields["db_queries"],
        fields["user_id"] or "-",
        fields["request_id"],
        extra={"fields": fields},
    )


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to records logged while a request is served (`None` elsewhere)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request id when there
    is one, the record's `fields` (a request summary's) and the traceback, if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return jsonutil.dumps(entry).decode()
