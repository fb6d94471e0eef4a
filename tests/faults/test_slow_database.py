"""A database too slow to answer: a session holds a lock that every request of a collection
needs, as a stuck migration or a forgotten transaction would.

What must hold: with `storage_lock_timeout_ms`, or with `storage_statement_timeout_ms` (which
also counts the time spent waiting for a lock), each request gives up after that long and
answers 503 with `Retry-After`, instead of holding its worker thread for good; the metrics
count these by cause; the server serves normally once the lock is gone.
"""

from __future__ import annotations

import time

import psycopg2
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.conftest import make_collections, root_url
from tests.faults.traffic import AUTH, unavailable_problem

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

LIMIT_MS = 300


def unavailable_count(server, cause: str) -> float:
    text = requests.get(f"{server.url}/__metrics__", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "kinto_unavailable_responses_total"
                and sample.labels.get("cause") == cause
            ):
                return sample.value
    return 0.0


@pytest.mark.parametrize(
    ("settings", "cause"),
    [
        ({"storage_lock_timeout_ms": str(LIMIT_MS)}, "lock_timeout"),
        (
            {"storage_lock_timeout_ms": "0", "storage_statement_timeout_ms": str(LIMIT_MS)},
            "statement_timeout",
        ),
    ],
)
def test_a_request_blocked_by_a_lock_gives_up_with_503(cluster, start_server, settings, cause):
    # One worker: its metrics are the whole server's.
    server = start_server(cluster.url(), workers=1, **settings)
    collection = make_collections(server.url, 1)[0]
    records = f"{root_url(server)}{collection}/records"
    http = requests.Session()
    http.auth = AUTH
    assert http.post(records, json={"data": {"n": 0}}, timeout=30).status_code == 201
    before = unavailable_count(server, cause)

    blocker = psycopg2.connect(cluster.url(server.database.name))
    try:
        with blocker.cursor() as cursor:
            # Reads and writes of every record wait for this one.
            cursor.execute("LOCK TABLE kinto_records_record IN ACCESS EXCLUSIVE MODE")
        waits = []
        for method, body in (("GET", None), ("POST", {"data": {"n": 1}})):
            started = time.monotonic()
            response = http.request(method, records, json=body, timeout=30)
            waits.append(time.monotonic() - started)
            assert response.status_code == 503, response.text
            assert unavailable_problem(response) is None, response.text
        assert max(waits) < 5, waits
    finally:
        blocker.rollback()
        blocker.close()

    assert unavailable_count(server, cause) - before >= 2
    listed = http.get(records, timeout=30)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1, listed.text
    assert http.post(records, json={"data": {"n": 2}}, timeout=30).status_code == 201
    print(f"\n{cause}: requests answered 503 after {[round(w, 2) for w in waits]}s")
