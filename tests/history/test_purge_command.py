"""`manage.py kinto_purge_history --older-than <age> [--bucket <id>]`: old entries deleted in
short batches, newer ones and everything else untouched."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from kinto_django.core import timestamps
from kinto_django.history.models import HistoryEntry
from tests import factories
from tests.history.conftest import entries, summary

DAY_MS = 86_400_000


def age_entries(bucket_id: str, days: int) -> None:
    """Pretend the bucket's entries so far were written `days` ago (tests only: the clock)."""
    entries_of = HistoryEntry.objects.filter(bucket__object_id=bucket_id)
    for entry in entries_of:
        entry.last_modified -= days * DAY_MS
        entry.save(update_fields=["last_modified"])


def purge(*args: str) -> str:
    out = io.StringIO()
    call_command("kinto_purge_history", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def aged(history):
    factories.collection(history)
    factories.collection(history, bucket_id="other")
    age_entries("shop", 40)
    age_entries("other", 40)
    factories.record(history, record_id="recent")
    factories.record(history, bucket_id="other", record_id="recent")
    return history


def test_purges_entries_older_than_the_age(aged):
    output = purge("--older-than", "30d", "--batch-size", "1")
    assert "Done: 4 history entries older than 30d removed" in output
    for bucket_id in ("shop", "other"):
        assert summary(entries(aged, bucket_id)) == [
            ("create", f"/buckets/{bucket_id}/collections/orders/records/recent")
        ]
    # The data itself is untouched.
    assert aged.get(factories.COLLECTION).status == 200


def test_one_bucket_only(aged):
    output = purge("--older-than", "4w", "--bucket", "other")
    assert "Done: 2 history entries of bucket other older than 4w removed" in output
    assert len(entries(aged, "shop")) == 3
    assert len(entries(aged, "other")) == 1


def test_nothing_old_enough(aged):
    assert "Done: 0 history entries" in purge("--older-than", "41d")
    assert len(entries(aged, "shop")) == 3


def test_the_history_stays_usable(aged):
    purge("--older-than", "1h")
    factories.record(aged, record_id="later")
    items = entries(aged)
    assert [e["record_id"] for e in items] == ["later", "recent"]
    assert items[0]["last_modified"] > items[1]["last_modified"]
    assert timestamps.now_ms() >= items[0]["last_modified"] - 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "soon"], "is not an age such as 30d"),
        (["--older-than", "30d", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["--older-than", "30d", "--bucket", "nope"], "No bucket 'nope'"),
    ],
)
def test_bad_arguments(history, args, message):
    with pytest.raises(CommandError, match=message):
        purge(*args)
