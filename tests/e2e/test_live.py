"""Live changes end to end: two real server processes (uvicorn workers, as `bin/serve`
starts them) on one database, a real Redis between them, real WebSocket clients.

- A client connected to server B receives the writes made through server A.
- A client that disconnects, misses writes, and resumes with `since` receives each missed
  change exactly once, then live changes again.
- Revoking a client's read access stops the delivery to it (checked at delivery, by the
  process that holds the connection).

On SQLite both servers share one database file, which works (WAL) but is not how several
processes are deployed: the PostgreSQL run is the reference one. Redis must listen on
127.0.0.1:6379; the servers use database 11 and a key prefix of their own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websockets

from tests.e2e.server import REDIS_URL, ServerProcess, redis_available

ALICE = ("alice", "secret")
BOB = ("bob", "secret")
TIMEOUT = 10


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not redis_available(), reason="needs Redis on 127.0.0.1:6379"),
]


def authorization(user: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(user).encode()).decode()


class SharedDatabaseServer(ServerProcess):
    """A second server on the first one's database (neither created nor dropped here)."""

    def __init__(self, workdir: Path, first: ServerProcess, **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        self.database = None
        self.storage_url = first.storage_url

    def manage(self, *args: str) -> None:
        """The first server migrated the database already."""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    settings = {
        "redis_url": REDIS_URL,
        "redis_prefix": f"kinto-e2e-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        "log_level": "WARNING",
    }
    first = ServerProcess(
        tmp_path_factory.mktemp("live-a"),
        workers=1,
        settings=settings,
        database_suffix="live",
    )
    second = SharedDatabaseServer(
        tmp_path_factory.mktemp("live-b"), first, workers=1, settings=settings
    )
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


class Api:
    """Plain HTTP requests to one server."""

    def __init__(self, server: ServerProcess, user: tuple[str, str]) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.auth = user

    def __call__(self, method: str, path: str, body: Any = None) -> dict:
        response = self.session.request(method, self.server.url + path, json=body, timeout=TIMEOUT)
        assert response.status_code < 400, response.text
        return response.json()


class LiveClient:
    def __init__(self, server: ServerProcess, user: tuple[str, str]) -> None:
        self.url = server.url.replace("http://", "ws://") + "/changes"
        self.user = user

    async def __aenter__(self) -> LiveClient:
        self.socket = await websockets.connect(
            self.url, additional_headers={"Authorization": authorization(self.user)}
        )
        assert (await self.receive())["type"] == "hello"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.socket.close()

    async def receive(self, timeout: float = TIMEOUT) -> dict:
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def subscribe(self, resource: str, **options: Any) -> dict:
        await self.socket.send(
            json.dumps({"type": "subscribe", "id": "s", "resource": resource, **options})
        )
        answer = await self.receive()
        assert answer["type"] == "subscribed", answer
        return answer

    async def changes(self, count: int) -> list[dict]:
        received = []
        while len(received) < count:
            message = await self.receive()
            if message["type"] == "change":
                received.append(message)
        return received

    async def quiet(self, seconds: float) -> bool:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {message}")


def new_collection(api: Api, **permissions: list[str]) -> str:
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    api("PUT", f"/buckets/{bucket}")
    body = {"permissions": permissions} if permissions else None
    api("PUT", f"/buckets/{bucket}/collections/tasks", body)
    return f"/buckets/{bucket}/collections/tasks/records"


def user_id(api: Api) -> str:
    return api("GET", "/")["user"]["id"]


def test_a_client_of_server_b_receives_writes_made_through_server_a(servers):
    a, b = servers
    alice_a = Api(a, ALICE)
    records = new_collection(alice_a)

    async def scenario() -> None:
        async with LiveClient(b, ALICE) as client:
            await client.subscribe(records)
            created = alice_a("PUT", f"{records}/r1", {"data": {"title": "one"}})["data"]
            alice_a("DELETE", f"{records}/r1")
            change, deletion = await client.changes(2)
            assert (change["action"], change["id"], change["data"]) == ("create", "r1", created)
            assert (deletion["action"], deletion["data"]["deleted"]) == ("delete", True)

    asyncio.run(scenario())


def test_resume_with_since_gets_each_missed_change_exactly_once(servers):
    a, b = servers
    alice_a = Api(a, ALICE)
    records = new_collection(alice_a)
    for n in range(3):
        alice_a("PUT", f"{records}/seen{n}", {"data": {"n": n}})

    async def scenario() -> None:
        async with LiveClient(b, ALICE) as client:
            await client.subscribe(records)
            alice_a("PUT", f"{records}/live", {"data": {}})
            (last,) = await client.changes(1)
        # Disconnected: these changes are missed.
        missed = {}
        for n in range(12):
            missed[f"m{n}"] = alice_a("PUT", f"{records}/m{n}", {"data": {"n": n}})["data"]
        alice_a("PATCH", f"{records}/seen0", {"data": {"x": 1}})
        alice_a("DELETE", f"{records}/seen1")
        async with LiveClient(b, ALICE) as client:
            await client.subscribe(records, since=last["timestamp"])
            # Writes keep coming while the replay runs.
            for n in range(5):
                alice_a("PUT", f"{records}/after{n}", {"data": {"n": n}})
            received = await client.changes(12 + 2 + 5)
            assert await client.quiet(1.5)
        ids = [change["id"] for change in received]
        assert len(ids) == len(set(ids)), "a change arrived twice"
        assert set(ids) == {*missed, "seen0", "seen1", *(f"after{n}" for n in range(5))}
        by_id = {change["id"]: change for change in received}
        assert by_id["seen1"]["action"] == "delete"
        assert by_id["seen0"]["data"]["x"] == 1
        assert all(by_id[i]["data"] == missed[i] for i in missed)
        stamps = [change["timestamp"] for change in received]
        assert stamps == sorted(stamps)

    asyncio.run(scenario())


def test_revoking_read_access_stops_delivery(servers):
    a, b = servers
    alice_a = Api(a, ALICE)
    bob = user_id(Api(a, BOB))
    records = new_collection(alice_a, read=[bob])
    collection = records.rsplit("/", 1)[0]

    async def scenario() -> None:
        async with LiveClient(b, BOB) as bob_client, LiveClient(b, ALICE) as alice_client:
            await bob_client.subscribe(records)
            await alice_client.subscribe(records)
            alice_a("PUT", f"{records}/before", {"data": {}})
            assert (await bob_client.changes(1))[0]["id"] == "before"
            assert (await alice_client.changes(1))[0]["id"] == "before"
            alice_a("PATCH", collection, {"permissions": {"read": []}})
            alice_a("PUT", f"{records}/after", {"data": {}})
            # Delivered to Alice, who still may read it; never to Bob.
            assert (await alice_client.changes(1))[0]["id"] == "after"
            assert await bob_client.quiet(1)

    asyncio.run(scenario())


def test_an_event_stream_of_server_b_receives_writes_made_through_server_a(servers):
    a, b = servers
    alice_a = Api(a, ALICE)
    records = new_collection(alice_a)
    before = alice_a("PUT", f"{records}/before", {"data": {}})["data"]
    stream = requests.get(
        f"{b.url}/changes",
        params={"resource": records},
        headers={"Accept": "text/event-stream", "Last-Event-ID": str(before["last_modified"])},
        auth=ALICE,
        stream=True,
        timeout=TIMEOUT,
    )
    with stream:
        assert stream.status_code == 200
        events = sse_events(stream)
        assert next(events)[1]["type"] == "subscribed"
        assert next(events)[1]["type"] == "replayed"  # nothing after `before`
        created = alice_a("PUT", f"{records}/r1", {"data": {"title": "one"}})["data"]
        event_id, change = next(events)
        assert (change["action"], change["id"], change["data"]) == ("create", "r1", created)
        assert event_id == str(created["last_modified"])


def sse_events(response: requests.Response) -> Iterator[tuple[str | None, dict]]:
    """The `(id, data)` of each event of a stream (comments skipped)."""
    event_id, data = None, None
    for line in response.iter_lines():
        if line.startswith(b"id: "):
            event_id = line[4:].decode()
        elif line.startswith(b"data: "):
            data = json.loads(line[6:])
        elif not line and data is not None:
            yield event_id, data
            event_id, data = None, None


def test_changes_of_one_list_arrive_in_timestamp_order_across_processes(servers):
    """Two writes of one list committed a moment apart by two processes may be published the
    other way round; every subscriber, on either process, still gets them in timestamp order,
    the list's first change included (a client resuming with the last timestamp it received
    must not skip one). Many fresh lists written at once make the race likely."""
    a, b = servers
    api_a, api_b = Api(a, ALICE), Api(b, ALICE)
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    api_a("PUT", f"/buckets/{bucket}")
    rounds, lists_per_round = 5, 20  # 20: the subscriptions one connection may hold
    disordered = []

    async def one_round(number: int) -> None:
        lists = [
            f"/buckets/{bucket}/collections/c{number}-{n}/records" for n in range(lists_per_round)
        ]
        for records in lists:
            api_a("PUT", records.rsplit("/records", 1)[0])
        async with LiveClient(a, ALICE) as on_a, LiveClient(b, ALICE) as on_b:
            for client in (on_a, on_b):
                for index, records in enumerate(lists):
                    await client.socket.send(
                        json.dumps({"type": "subscribe", "id": str(index), "resource": records})
                    )
                for _ in lists:
                    assert (await client.receive())["type"] == "subscribed"

            def write_pair(records: str) -> None:
                barrier = threading.Barrier(2)

                def write(api: Api, record_id: str) -> None:
                    barrier.wait()
                    api("PUT", f"{records}/{record_id}", {"data": {}})

                threads = [
                    threading.Thread(target=write, args=(api_a, "from-a")),
                    threading.Thread(target=write, args=(api_b, "from-b")),
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()

            await asyncio.gather(*(asyncio.to_thread(write_pair, r) for r in lists))
            for client in (on_a, on_b):
                received: dict[str, list[int]] = {}
                for change in await client.changes(2 * lists_per_round):
                    received.setdefault(change["subscription"], []).append(change["timestamp"])
                disordered.extend(
                    stamps for stamps in received.values() if stamps != sorted(stamps)
                )
                assert all(len(stamps) == 2 for stamps in received.values()), received

    async def scenario() -> None:
        for number in range(rounds):
            await one_round(number)

    asyncio.run(scenario())
    assert disordered == []
