"""PostgreSQL restarted, or killed, under load, on a cluster the test owns.

What must hold: during the outage every request answers 503 with `Retry-After` and the
protocol's error body (never a 500, never a hang), and the heartbeat says the storage is
down; once PostgreSQL is back the same server processes recover by themselves (stale
connections are replaced); no acknowledged write is lost, no batch is half stored, and the
`_since` pollers receive every acknowledged version exactly once.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import heartbeat, make_collections, root_url, wait_until_healthy
from tests.faults.traffic import Traffic

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

OUTAGE_SECONDS = 3


@pytest.mark.parametrize("fault", ["restart", "crash"])
def test_postgresql_going_away_under_load_answers_503_then_recovers(cluster, start_server, fault):
    server = start_server(cluster.url(), workers=2)
    collections = make_collections(server.url, 3)
    with Traffic(root_url(server), collections, writers=4, pollers=2, batch_size=10) as traffic:
        traffic.wait_for_acknowledged(100)
        unavailable_before = traffic.outcomes.statuses[503]
        if fault == "restart":
            cluster.stop("fast")
        else:
            cluster.kill()
        outage_started = time.monotonic()
        status, body = heartbeat(server)
        assert status == 503 and body["storage"] is False, body
        time.sleep(OUTAGE_SECONDS)
        unavailable = traffic.outcomes.statuses[503] - unavailable_before
        cluster.start()
        recovered_in = wait_until_healthy(server)
        outage = time.monotonic() - outage_started
        # The same processes serve again: writes are acknowledged at once.
        traffic.wait_for_acknowledged(100, timeout=30)
    report = traffic.verify()

    assert unavailable > 0, report
    print(f"\nPostgreSQL {fault}: outage {outage:.1f}s, {unavailable} answers 503 during it, "
          f"healthy {recovered_in:.2f}s after the start; {report}")  # fmt: skip
