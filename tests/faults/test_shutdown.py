"""SIGTERM to a server with requests in flight, live clients and the event dispatcher.

What must hold: the requests under way are answered (they were waiting on a lock, released
after the signal); live connections close with 1012 ("service restart": reconnect); the
dispatcher gives its lease back, so another takes over at once; the processes exit within
gunicorn's graceful timeout.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import threading
import time

import psycopg2
import pytest
import requests
import websockets

from tests.faults.conftest import make_collections, root_url
from tests.faults.traffic import AUTH
from tests.notifications.receivers import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

IN_FLIGHT = 4
GRACEFUL_TIMEOUT_SECONDS = 5  # tests.e2e.server starts gunicorn with --graceful-timeout 5


def follow_until_closed(url: str, resource: str, codes: list, ready: threading.Event) -> None:
    async def main() -> None:
        credentials = base64.b64encode(":".join(AUTH).encode()).decode()
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Basic {credentials}"}
        ) as socket:
            await socket.recv()  # hello
            await socket.send(json.dumps({"type": "subscribe", "id": "s", "resource": resource}))
            await socket.recv()  # subscribed
            ready.set()
            try:
                while True:
                    await socket.recv()
            except websockets.ConnectionClosed as closed:
                codes.append(closed.rcvd.code if closed.rcvd else None)

    asyncio.run(main())


def test_sigterm_answers_requests_in_flight_closes_live_clients_and_releases_the_lease(
    cluster, start_server
):
    receiver = WebhookReceiver().start()
    try:
        server = start_server(
            cluster.url(),
            workers=2,
            event_listeners="hook",
            event_listeners_hook_use="webhook",
            event_listeners_hook_url=receiver.url,
            event_listeners_hook_secret="faults-secret",
            event_dispatcher_in_server="true",
            event_dispatcher_poll_seconds="0.2",
        )
        collection = make_collections(server.url, 1)[0]
        records = f"{root_url(server)}{collection}/records"
        http = requests.Session()
        http.auth = AUTH
        # A first write starts the dispatcher, which takes the lease and delivers it.
        assert http.post(records, json={"data": {"n": 0}}, timeout=30).status_code == 201
        receiver.wait_for(3)  # the bucket, the collection, the record
        lease = cluster.query(
            "SELECT owner, expires_at > now() FROM kinto_notifications_lease",
            server.database.name,
        )
        assert lease and lease[0][1], lease

        closes: list = []
        ready = [threading.Event() for _ in range(2)]
        ws_url = server.url.replace("http://", "ws://") + "/changes"
        for event in ready:
            threading.Thread(
                target=follow_until_closed,
                args=(ws_url, collection.removeprefix("/v1") + "/records", closes, event),
                daemon=True,
            ).start()
            assert event.wait(10)

        # Writes that wait: another session holds every list timestamp.
        blocker = psycopg2.connect(cluster.url(server.database.name))
        with blocker.cursor() as cursor:
            cursor.execute("LOCK TABLE kinto_core_listtimestamp IN EXCLUSIVE MODE")
        answers: list[int] = []

        def write(n: int) -> None:
            session = requests.Session()
            session.auth = AUTH
            try:
                response = session.post(records, json={"data": {"n": n}}, timeout=30)
                answers.append(response.status_code)
            except requests.RequestException as error:
                answers.append(repr(error))

        writers = [threading.Thread(target=write, args=(n,)) for n in range(1, IN_FLIGHT + 1)]
        for writer in writers:
            writer.start()
        deadline = time.monotonic() + 10
        while (
            cluster.query("SELECT count(*) FROM pg_locks WHERE NOT granted", server.database.name)[
                0
            ][0]
            < IN_FLIGHT
        ):
            assert time.monotonic() < deadline, "the writes never reached the lock"
            time.sleep(0.05)

        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(1)
        blocker.rollback()  # the writes under way can now finish
        blocker.close()
        for writer in writers:
            writer.join(timeout=30)
        server.process.wait(timeout=GRACEFUL_TIMEOUT_SECONDS + 10)
        exited_in = time.monotonic() - signalled

        assert answers == [201] * IN_FLIGHT, answers
        deadline = time.monotonic() + 5
        while len(closes) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert closes == [1012, 1012], closes
        # The lease was given back: another dispatcher may deliver at once.
        lease = cluster.query(
            "SELECT owner, expires_at > now() FROM kinto_notifications_lease",
            server.database.name,
        )
        assert lease and not lease[0][1], lease
        assert exited_in < GRACEFUL_TIMEOUT_SECONDS + 5, exited_in
        print(f"\nSIGTERM: {IN_FLIGHT} writes in flight answered {answers}, live closed "
              f"{closes}, lease released, exited in {exited_in:.2f}s")  # fmt: skip
    finally:
        receiver.stop()
