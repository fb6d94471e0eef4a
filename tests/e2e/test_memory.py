"""What large writes and a live client that never reads cost a real worker's memory.

A request's objects (DRF's view, request and response) point at each other; unless the cycles
are cut when the response is built, each request's body, parsed data and response live on
until a full garbage collection, and a worker grows by the size of every large write.

One WebSocket holds 20 subscriptions to one list and stops reading; five 2 MiB records are
written to the list. Each change goes to all 20 subscriptions: its body must be held once for
the connection (not once per subscription), the connection's queue is bounded in bytes (the
client is disconnected as too slow when it overflows), and nothing the connection held stays
once it is gone. Memory is the worker's resident set (`VmRSS`), read from /proc.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from pathlib import Path

import pytest
import requests
import websockets

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

ALICE = ("alice", "secret")
MIB = 1024 * 1024
SUBSCRIPTIONS = 20
WRITES = 5


def worker_rss(server: ServerProcess) -> int:
    """The resident set, in bytes, of the server's only worker."""
    assert server.process is not None
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def settle(server: ServerProcess, seconds: float = 3.0) -> int:
    """The worker's resident set once it stopped moving (the lowest of a few readings)."""
    readings = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readings.append(worker_rss(server))
        time.sleep(0.3)
    return min(readings[-3:])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with ServerProcess(
        tmp_path_factory.mktemp("live-memory"),
        workers=1,
        settings={"log_level": "WARNING"},
        database_suffix="memory",
    ) as server:
        yield server


def new_collection(server: ServerProcess, http: requests.Session, name: str) -> str:
    """A new bucket with one collection; the path of its records."""
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    assert http.put(f"{server.url}/buckets/{bucket}").ok
    assert http.put(f"{server.url}/buckets/{bucket}/collections/{name}").ok
    return f"/buckets/{bucket}/collections/{name}/records"


def test_an_idle_socket_with_many_subscriptions_holds_bounded_memory(server):
    http = requests.Session()
    http.auth = ALICE
    records = new_collection(server, http, "big")
    authorization = "Basic " + base64.b64encode(b"alice:secret").decode()
    url = server.url.replace("http://", "ws://") + "/changes"

    def write_big_records(path: str, prefix: str) -> None:
        big = "x" * (2 * MIB)
        for n in range(WRITES):
            response = http.put(f"{server.url}{path}/{prefix}{n}", json={"data": {"blob": big}})
            assert response.ok, response.text

    # What the writes cost without a subscriber (the allocator keeps some of it): measured
    # from there.
    write_big_records(new_collection(server, http, "quiet"), "warm")

    async def scenario() -> tuple[int, int, int, list]:
        # `max_queue=1`: the client library stops reading the socket once one message
        # waits, so the server meets a reader that has stalled.
        socket = await websockets.connect(
            url,
            additional_headers={"Authorization": authorization},
            max_queue=1,
            max_size=None,
        )
        assert json.loads(await socket.recv())["type"] == "hello"
        for n in range(SUBSCRIPTIONS):
            subscribe = {"type": "subscribe", "id": f"s{n}", "resource": records}
            await socket.send(json.dumps(subscribe))
            assert json.loads(await socket.recv())["type"] == "subscribed"
        await asyncio.to_thread(http.put, f"{server.url}{records}/small", json={"data": {}})
        for _ in range(SUBSCRIPTIONS):
            await socket.recv()
        before = await asyncio.to_thread(settle, server)
        await asyncio.to_thread(write_big_records, records, "r")
        held = await asyncio.to_thread(settle, server)
        # The client drains what reached it: its connection was closed as too slow.
        received = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                received.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
        assert closed.value.rcvd is not None
        after = await asyncio.to_thread(settle, server)
        return before, held, after, [closed.value.rcvd.code, received]

    before, held, after, (code, received) = asyncio.run(scenario())
    print(
        f"worker RSS: before {before / MIB:.0f} MiB, with the stalled client "
        f"{held / MIB:.0f} MiB, after it closed {after / MIB:.0f} MiB"
    )
    # 5 changes x 20 subscriptions x 2 MiB would be 200 MiB held per copy; the byte bound
    # of the queue (8 MiB) overflows on the fifth change.
    assert code == 4008
    assert len([m for m in received if m.get("type") == "change"]) < WRITES * SUBSCRIPTIONS
    assert held - before < 60 * MIB
    assert after - before < 40 * MIB


def test_large_writes_do_not_accumulate_in_the_worker(server):
    http = requests.Session()
    http.auth = ALICE
    records = server.url + new_collection(server, http, "large")
    big = "x" * (4 * MIB)
    for n in range(3):  # the allocator's own working set for such writes
        assert http.put(f"{records}/r{n}", json={"data": {"blob": big}}).ok
    start = peak = worker_rss(server)
    for n in range(60):
        response = http.put(f"{records}/r{n % 3}", json={"data": {"blob": big, "n": n}})
        assert response.ok, response.text
        peak = max(peak, worker_rss(server))
    print(f"worker RSS over 60 writes of 4 MiB: {start / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB")
    # 60 x 4 MiB bodies, each held several times (raw, parsed, response), would be ~1 GiB
    # if they waited for the garbage collector; the first fixes measured +38 MiB.
    assert peak - start < 100 * MIB
