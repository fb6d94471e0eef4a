"""`manage.py kinto_purge_deleted`: old tombstones go, in batches; live objects and recent
tombstones stay."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from kinto_django.core import timestamps
from kinto_django.core.retention import purge as retention
from tests import factories

DAY_MS = 86_400_000
RECORDS = factories.RECORDS


def purge(monkeypatch, *args: str, days_later: int = 3) -> str:
    """Run the command as if `days_later` days had passed."""
    now = timestamps.now_ms() + days_later * DAY_MS
    monkeypatch.setattr(timestamps, "now_ms", lambda: now)
    out = io.StringIO()
    call_command("kinto_purge_deleted", *args, stdout=out)
    monkeypatch.undo()
    return out.getvalue()


def ids(response) -> list[str]:
    return sorted(item["id"] for item in response.data)


def test_old_tombstones_go_and_everything_else_stays(api, monkeypatch):
    factories.collection(api)
    factories.group(api)
    for n in range(6):
        factories.record(api, {"n": n}, record_id=f"r{n}")
    for n in range(4):
        assert api.delete(f"{RECORDS}/r{n}").status == 200
    # A recent deletion: its forced timestamp lies 2.5 days ahead, and the purge runs "3 days
    # later" removing what is older than 1 day.
    recent = timestamps.now_ms() + 60 * 3_600_000
    assert api.delete(f"{RECORDS}/r4?last_modified={recent}").status == 200
    # Old tombstones of other types: a collection and a group.
    factories.collection(api, collection_id="old", create_bucket=False)
    assert api.delete("/buckets/shop/collections/old").status == 200
    factories.group(api, group_id="gone")
    assert api.delete("/buckets/shop/groups/gone").status == 200
    before = api.get(f"{RECORDS}/r5").json

    output = purge(monkeypatch, "--older-than", "1d", "--batch-size", "2")

    assert "record: 4 tombstones removed" in output
    assert "collection: 1 tombstones removed" in output
    assert "group: 1 tombstones removed" in output
    assert ids(api.get(f"{RECORDS}?_since=0")) == ["r4", "r5"]
    assert api.get(f"{RECORDS}?_since=0").data[0]["deleted"] is True  # the recent one stays
    assert api.get(f"{RECORDS}/r5").json == before
    assert ids(api.get("/buckets/shop/collections?_since=0")) == ["orders"]
    assert ids(api.get("/buckets/shop/groups?_since=0")) == ["staff"]


def test_a_revived_object_is_live_and_kept(api, monkeypatch):
    factories.collection(api)
    factories.record(api, {"v": 1}, record_id="r")
    api.delete(f"{RECORDS}/r")
    factories.record(api, {"v": 2}, record_id="r")
    assert "record: 0 tombstones removed" in purge(monkeypatch, "--older-than", "1d")
    assert api.get(f"{RECORDS}/r").data["v"] == 2


def test_young_tombstones_are_kept(api, monkeypatch):
    factories.collection(api)
    factories.record(api, record_id="r")
    api.delete(f"{RECORDS}/r")
    output = purge(monkeypatch, "--older-than", "5d", "--resource", "record")
    assert output.splitlines()[0] == "record: 0 tombstones removed"
    assert ids(api.get(f"{RECORDS}?_since=0")) == ["r"]


def test_only_the_named_resources(api, monkeypatch):
    factories.collection(api)
    factories.record(api, record_id="r")
    api.delete(f"{RECORDS}/r")
    factories.group(api)
    api.delete("/buckets/shop/groups/staff")
    output = purge(monkeypatch, "--older-than", "1d", "--resource", "group")
    assert "group: 1 tombstones removed" in output
    assert "record" not in output
    assert ids(api.get(f"{RECORDS}?_since=0")) == ["r"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "soon"], "is not an age"),
        (["--older-than", "3x"], "is not an age"),
        (["--older-than", "1d", "--resource", "cats"], "Unknown resource cats"),
        (["--older-than", "1d", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_arguments(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("kinto_purge_deleted", *args, stdout=io.StringIO())


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("90s", 90_000),
        ("15m", 900_000),
        ("12h", 43_200_000),
        ("30d", 30 * DAY_MS),
        ("2w", 14 * DAY_MS),
        ("1d12h", 36 * 3_600_000),
    ],
)
def test_ages(text, ms):
    assert retention.parse_age(text) == ms


@pytest.mark.parametrize("text", ["", "d", "1", "-1d", "1.5d", "1d 2h", "1y"])
def test_invalid_ages(text):
    with pytest.raises(ValueError):
        retention.parse_age(text)


def test_types_without_tombstones_are_not_offered(db, monkeypatch):
    """History entries are removed outright (kinto_purge_history trims them), never tombstoned."""
    output = purge(monkeypatch, "--older-than", "1d")
    assert {line.split(":")[0] for line in output.splitlines()[:-1]} == {
        "account",
        "bucket",
        "collection",
        "group",
        "record",
    }
    with pytest.raises(CommandError, match="Unknown resource history"):
        call_command(
            "kinto_purge_deleted",
            "--older-than",
            "1d",
            "--resource",
            "history",
            stdout=io.StringIO(),
        )
