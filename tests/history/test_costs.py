"""What the history costs a write (STYLE.md §5): nothing when off; when on, a constant number
of queries, whatever the number of objects the write changes."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories

# Bucket ACLs, collection ACLs, the entries' timestamps, the insert.
ENTRY_QUERIES = 4


def record_write_extra() -> int:
    """The entry's queries, and on PostgreSQL the lock of the bucket's history scope, taken
    before the write's own list (`kinto_django.core.timestamps.write_scopes`); a batch takes it once."""
    return ENTRY_QUERIES + (connection.vendor == "postgresql")


def queries(send) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = send()
    assert response.status in (200, 201), response
    return [query["sql"] for query in captured.captured_queries]


def touches_history(sql: str) -> bool:
    return "kinto_history" in sql or "'history'" in sql


def warm(api) -> None:
    """Per-process caches (content types, permission ids) loaded, as on a running server."""
    factories.collection(api)
    factories.record(api, record_id="warm")
    api.delete(factories.RECORDS + "/warm")


def test_off_costs_nothing(api):
    warm(api)
    for send in (
        lambda: api.put(factories.RECORDS + "/r1", {"data": {"n": 1}}),
        lambda: api.patch(factories.RECORDS + "/r1", {"data": {"n": 2}}),
        lambda: api.delete(factories.RECORDS + "/r1"),
        lambda: api.put(factories.COLLECTION, {"data": {"n": 1}}),
        lambda: api.delete(factories.RECORDS),
    ):
        assert not any(touches_history(sql) for sql in queries(send))


def test_a_write_costs_a_constant_number_of_queries(api, kinto_settings):
    warm(api)
    kinto_settings(history_enabled=True)
    factories.record(api, record_id="warm")  # per-process caches of the ACL lookups
    on = len(queries(lambda: api.put(factories.RECORDS + "/r1", {"data": {"n": 1}})))
    kinto_settings(history_auto_trim_max_count=1000)
    trimmed = len(queries(lambda: api.put(factories.RECORDS + "/r2", {"data": {"n": 1}})))
    kinto_settings(history_enabled=False)
    off = len(queries(lambda: api.put(factories.RECORDS + "/r3", {"data": {"n": 1}})))
    assert on - off == record_write_extra()
    assert trimmed - off == record_write_extra() + 1  # the trimming check


def test_list_deletion_writes_its_entries_in_one_statement(api, kinto_settings):
    warm(api)
    kinto_settings(history_enabled=True)
    counts = []
    for size in (1, 60):
        for index in range(size):
            factories.record(api, record_id=f"r{index}")
        counts.append(len(queries(lambda: api.delete(factories.RECORDS))))
    assert counts[0] == counts[1]
    assert len(api.get("/buckets/shop/history?action=delete&resource_name=record").data) == 61


def test_batch_sub_requests_each_add_a_constant(api, kinto_settings):
    warm(api)

    def batch(prefix: str):
        requests = [
            {"method": "PUT", "path": f"{factories.RECORDS}/{prefix}{i}", "body": {"data": {}}}
            for i in range(20)
        ]
        return lambda: api.post("/batch", {"requests": requests})

    off = len(queries(batch("a")))
    kinto_settings(history_enabled=True)
    on = len(queries(batch("b")))
    assert on - off <= 20 * ENTRY_QUERIES + (record_write_extra() - ENTRY_QUERIES)
