"""Trimming (spec/07, spec/10): past `auto_trim_max_count` + `auto_trim_threshold` entries of
a type in a bucket (per user with `auto_trim_user_ids`), the oldest go, down to the count,
in one bulk delete once the write has committed."""

from __future__ import annotations

import pytest

from tests import factories
from tests.history.conftest import entries, user_id


@pytest.fixture
def trimmed(history, kinto_settings):
    kinto_settings(history_auto_trim_max_count=3, history_auto_trim_threshold=2)
    factories.collection(history)
    return history


def record_ids(api, query: str = "", **kwargs) -> list[str]:
    return [e["record_id"] for e in entries(api, query=f"resource_name=record{query}", **kwargs)]


def trims(callbacks) -> list:
    """The trimming callbacks among those run on commit (events are sent there too)."""
    return [callback for callback in callbacks if "trim" in callback.__qualname__]


def write(api, count: int, prefix: str = "r", **kwargs) -> None:
    for index in range(count):
        factories.record(api, record_id=f"{prefix}{index}", **kwargs)


def test_trimmed_once_the_threshold_is_crossed(trimmed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        write(trimmed, 5)
    assert record_ids(trimmed) == ["r4", "r3", "r2", "r1", "r0"]  # 5 = 3 + 2: not yet
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        factories.record(trimmed, record_id="r5")
    assert len(trims(callbacks)) == 1
    assert record_ids(trimmed) == ["r5", "r4", "r3"]
    # Other types are counted apart.
    assert [
        e["resource_name"] for e in entries(trimmed, query="exclude_resource_name=record")
    ] == [
        "collection",
        "bucket",
    ]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        write(trimmed, 2, prefix="s")
    assert not trims(callbacks)  # 5 entries again: one bulk delete every `threshold` writes
    assert record_ids(trimmed) == ["s1", "s0", "r5", "r4", "r3"]


def test_trimming_waits_for_the_commit(trimmed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        write(trimmed, 6)
    assert len(record_ids(trimmed)) == 6
    [trim] = trims(callbacks)
    trim()
    assert record_ids(trimmed) == ["r5", "r4", "r3"]


def test_a_list_deletion_is_one_write(trimmed, django_capture_on_commit_callbacks):
    write(trimmed, 4)
    with django_capture_on_commit_callbacks(execute=True):
        trimmed.delete(factories.RECORDS)
    assert [e["action"] for e in entries(trimmed, query="resource_name=record")] == ["delete"] * 3


def test_only_the_listed_users(trimmed, kinto_settings, django_capture_on_commit_callbacks):
    bob = user_id(trimmed, "bob")
    kinto_settings(history_auto_trim_user_ids=bob)
    trimmed.patch(factories.COLLECTION, {"permissions": {"write": [bob]}})
    with django_capture_on_commit_callbacks(execute=True):
        write(trimmed, 7, prefix="a")
        for index in range(6):
            trimmed.put(f"{factories.RECORDS}/b{index}", {"data": {}}, user="bob")
    assert record_ids(trimmed, f"&user_id={bob}") == ["b5", "b4", "b3"]
    assert len(record_ids(trimmed, f"&not_user_id={bob}")) == 7


def test_off_unless_a_positive_count(history, kinto_settings, django_capture_on_commit_callbacks):
    kinto_settings(history_auto_trim_max_count=0, history_auto_trim_threshold=0)
    factories.collection(history)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        write(history, 3)
    assert not trims(callbacks)
    assert len(record_ids(history)) == 3


def test_capability_shows_the_settings(history, kinto_settings):
    kinto_settings(
        history_auto_trim_max_count="50",
        history_auto_trim_user_ids="account:bot account:ci",
        history_exclude_resources="/buckets/a /buckets/a/collections/c /buckets/a/groups/g "
        "/buckets/a/collections/c/records/r",
    )
    capability = history.get("/").json["capabilities"]["history"]
    assert capability["auto_trim_max_count"] == 50
    assert capability["auto_trim_user_ids"] == ["account:bot", "account:ci"]
    assert capability["excluded_resources"] == [
        {"bucket": "a"},
        {"bucket": "a", "collection": "c"},
        {"bucket": "a", "group": "g"},
        {"bucket": "a", "collection": "c", "record": "r"},
    ]
