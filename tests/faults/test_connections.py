"""Database connections: what a server really opens, checked against the budget that
docs/production.md gives, and more clients than PostgreSQL accepts connections.

Budget (docs/production.md, "Connections"): a worker holds up to `KINTO_THREADS` connections
for HTTP, 5 for live changes (4 given back within 10 s once idle), 3 for a moment during a
heartbeat, and 1 with `event_dispatcher_in_server`.

With `max_connections` below that budget, requests answer 200 or 503 with `Retry-After`
(never a 500, never a hang), WebSocket handshakes too, and the server recovers by itself
once the load drops.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time

import pytest
import requests
import websockets

from tests.faults.conftest import make_collections, root_url
from tests.faults.traffic import AUTH, Traffic, unavailable_problem

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

WORKERS = 2
THREADS = 4
LIVE_CONNECTIONS = 5  # per worker: the hub's thread, and 4 for subscribing clients
HEARTBEAT_CONNECTIONS = 3
IDLE_RELEASE_SECONDS = 10
CONNECTIONS_ALLOWED = 9


def server_connections(cluster, database: str) -> int:
    return cluster.query(
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' "
        "AND pid <> pg_backend_pid()"
    )[0][0]


class Sampler(threading.Thread):
    """The highest number of connections the server held, sampled every 20 ms."""

    def __init__(self, cluster, database: str) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.database = database
        self.peak = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak = max(self.peak, server_connections(self.cluster, self.database))
            time.sleep(0.02)

    def stop(self) -> int:
        self.stopping.set()
        self.join()
        return self.peak


class Handshakes(threading.Thread):
    """Opens WebSocket connections that subscribe and leave, over and over; counts the
    statuses of refused handshakes and the error codes of refused subscriptions."""

    def __init__(self, server_url: str, resource: str, clients: int) -> None:
        super().__init__(daemon=True)
        self.url = server_url.replace("http://", "ws://") + "/changes"
        self.resource = resource
        self.clients = clients
        self.subscribed = 0
        self.refused: dict[int, int] = {}
        self.problems: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self.main())

    async def main(self) -> None:
        await asyncio.gather(*(self.client(f"reader{n}") for n in range(self.clients)))

    async def client(self, user: str) -> None:
        # A user each: one user may hold only a few live connections per process.
        credentials = base64.b64encode(f"{user}:secret".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}"}
        while not self.stopping.is_set():
            try:
                async with websockets.connect(
                    self.url, additional_headers=headers, open_timeout=30
                ) as socket:
                    await socket.recv()  # hello
                    subscribe = {"type": "subscribe", "id": "s", "resource": self.resource}
                    await socket.send(json.dumps(subscribe))
                    answer = await asyncio.wait_for(socket.recv(), 30)
                    if '"subscribed"' in answer:
                        self.subscribed += 1
                    elif '"code":503' not in answer.replace(" ", ""):
                        self.problems.append(answer[:300])
            except websockets.InvalidStatus as refused:
                status = refused.response.status_code
                self.refused[status] = self.refused.get(status, 0) + 1
                if status != 503:
                    self.problems.append(f"handshake {status}")
            except (OSError, TimeoutError, websockets.ConnectionClosed) as error:
                self.problems.append(repr(error))
            await asyncio.sleep(0.01)


def readable_collections(server, count: int) -> list[str]:
    """Collections of alice's that every authenticated user may read (and follow)."""
    collections = make_collections(server.url, count)
    bucket = collections[0].split("/collections/")[0].removeprefix("/v1")
    response = requests.patch(
        f"{server.url}{bucket}",
        json={"permissions": {"read": ["system.Authenticated"]}},
        auth=AUTH,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return collections


def test_a_server_opens_no_more_connections_than_its_documented_budget(cluster, start_server):
    server = start_server(cluster.url(), workers=WORKERS, threads=THREADS)
    collections = readable_collections(server, 2)
    sampler = Sampler(cluster, server.database.name)
    sampler.start()
    handshakes = Handshakes(server.url, collections[0].removeprefix("/v1") + "/records", 20)
    handshakes.start()
    with Traffic(root_url(server), collections, writers=12, pollers=4) as traffic:
        for _ in range(20):
            requests.get(f"{server.url}/__heartbeat__", timeout=30)
        traffic.wait_for_acknowledged(300)
    handshakes.stopping.set()
    handshakes.join()
    peak = sampler.stop()
    traffic.verify()
    assert not handshakes.problems, handshakes.problems[:5]
    budget = WORKERS * (THREADS + LIVE_CONNECTIONS + HEARTBEAT_CONNECTIONS)
    assert 0 < peak <= budget, (peak, budget)

    # Idle, the live side gives back its subscribing clients' connections.
    deadline = time.monotonic() + IDLE_RELEASE_SECONDS * 3
    idle_budget = WORKERS * (THREADS + 1)
    while (held := server_connections(cluster, server.database.name)) > idle_budget:
        assert time.monotonic() < deadline, (held, idle_budget)
        time.sleep(0.5)
    print(f"\nconnections: peak {peak} (budget {budget}), idle {held} (budget {idle_budget}); "
          f"{handshakes.subscribed} subscriptions; {traffic.summary()}")  # fmt: skip


def test_more_clients_than_database_connections_answer_503_then_recover(cluster, start_server):
    # PostgreSQL accepts 9 connections (the tests connect as a superuser, who may use the
    # reserved ones): HTTP threads (2 × 4) and the live side (2 × 5) compete for them.
    cluster.restart(max_connections=str(CONNECTIONS_ALLOWED))
    try:
        server = start_server(cluster.url(), workers=WORKERS, threads=THREADS)
        collections = readable_collections(server, 4)
        handshakes = Handshakes(server.url, collections[0].removeprefix("/v1") + "/records", 20)
        handshakes.start()
        with Traffic(root_url(server), collections, writers=30, pollers=10) as traffic:
            time.sleep(15)
        handshakes.stopping.set()
        handshakes.join()
        overloaded = traffic.summary()
        # The load is gone: the server serves again, in a row, within 30 seconds.
        http = requests.Session()
        http.auth = AUTH
        deadline = time.monotonic() + 30
        in_a_row = 0
        started = time.monotonic()
        while in_a_row < 10:
            assert time.monotonic() < deadline, "no recovery once the load dropped"
            response = http.get(f"{root_url(server)}{collections[0]}/records", timeout=30)
            if response.status_code == 200:
                in_a_row += 1
            else:
                assert response.status_code == 503, response.text
                assert unavailable_problem(response) is None
                in_a_row = 0
                time.sleep(0.2)
        recovered_in = time.monotonic() - started
        report = traffic.verify()
        assert not handshakes.problems, handshakes.problems[:5]
        assert set(traffic.outcomes.statuses) <= {200, 201, 503}, report
        # The database did refuse connections (or this test proves nothing).
        assert handshakes.refused.get(503, 0) + traffic.outcomes.statuses[503] > 0
        print(f"\nmax_connections={CONNECTIONS_ALLOWED}, 40 clients for 15 s: {overloaded}; handshakes refused "
              f"{handshakes.refused}, {handshakes.subscribed} subscriptions; recovered in "
              f"{recovered_in:.2f}s")  # fmt: skip
    finally:
        cluster.restart(max_connections="100")
