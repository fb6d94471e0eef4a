"""A hostile live subscription against a real server: its matching runs on the event loop
that serves every request of the process, so it must stay cheap whatever the filter."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests
import websockets

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

AUTHORIZATION = "Basic " + base64.b64encode(b"mallory:secret").decode()


def test_a_backtracking_like_filter_does_not_block_the_server(tmp_path):
    with ServerProcess(tmp_path, workers=1, settings={"log_level": "WARNING"}) as server:
        http = requests.Session()
        http.auth = ("mallory", "secret")
        records = f"/buckets/b-{uuid.uuid4().hex[:8]}/collections/c/records"
        assert http.put(server.url + records.rsplit("/collections", 1)[0]).ok
        assert http.put(server.url + records.rsplit("/records", 1)[0]).ok
        assert http.put(f"{server.url}{records}/r1", json={"data": {"title": "a" * 80}}).ok
        url = server.url.replace("http://", "ws://") + "/changes"

        async def scenario() -> list[float]:
            async with websockets.connect(
                url, additional_headers={"Authorization": AUTHORIZATION}
            ) as socket:
                assert json.loads(await socket.recv())["type"] == "hello"
                subscribe = {
                    "type": "subscribe",
                    "id": "s",
                    "resource": records,
                    # As a regular expression (`.*a.*a…b`), 80 `a`s would take ages.
                    "filters": {"like_title": "*a" * 12 + "*b"},
                    "since": 0,
                }
                await socket.send(json.dumps(subscribe))
                # A live change to match too, while the replay matches the stored one.
                await asyncio.to_thread(
                    http.put, f"{server.url}{records}/r2", json={"data": {"title": "a" * 80}}
                )
                delays = []
                for _ in range(5):
                    started = time.monotonic()
                    response = await asyncio.to_thread(
                        requests.get, f"{server.url}/__lbheartbeat__", timeout=10
                    )
                    assert response.status_code == 200
                    delays.append(time.monotonic() - started)
                answers = [json.loads(await asyncio.wait_for(socket.recv(), 10)) for _ in range(2)]
                assert [a["type"] for a in answers] == ["subscribed", "replayed"]
                return delays

        delays = asyncio.run(scenario())
        # Only a blocked loop takes seconds; a loaded machine takes milliseconds.
        assert max(delays) < 5, delays


def tcp_states(local_port: int) -> list[str]:
    """States of the TCP connections whose local port is this one (/proc/net/tcp, hex)."""
    suffix = f":{local_port:04X}"
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return [row[3] for row in rows if row[1].endswith(suffix)]


def test_a_client_that_never_reads_is_cut_off(tmp_path):
    """A WebSocket client that stops reading overflows its queue: it gets close code 4008,
    and when it does not even take that frame (it sits behind unread data), the server
    resets the connection instead of holding it and its buffers until keep-alive gives up."""
    settings = {"log_level": "WARNING", "live_send_queue_bytes": str(1024 * 1024)}
    with ServerProcess(tmp_path, workers=1, settings=settings) as server:
        http = requests.Session()
        http.auth = ("mallory", "secret")
        bucket = f"/buckets/b-{uuid.uuid4().hex[:8]}"
        assert http.put(server.url + bucket).ok
        assert http.put(f"{server.url}{bucket}/collections/c").ok
        records = f"{bucket}/collections/c/records"
        # A raw WebSocket handshake and one subscription, then nothing is ever read.
        client = socket.create_connection(("127.0.0.1", server.port))
        client.sendall(
            (
                f"GET {server.api_root}/changes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: {AUTHORIZATION}\r\n\r\n"
            ).encode()
        )
        assert client.recv(12) == b"HTTP/1.1 101"
        subscribe = json.dumps({"type": "subscribe", "id": "s", "resource": records}).encode()
        client.sendall(bytes([0x81, 0x80 | len(subscribe)]) + b"\0\0\0\0" + subscribe)
        time.sleep(0.5)
        local_port = client.getsockname()[1]
        big = "x" * (256 * 1024)
        for n in range(60):  # 15 MiB: more than the socket buffers and the queue hold
            assert http.put(f"{server.url}{records}/r{n}", json={"data": {"blob": big}}).ok
        deadline = time.monotonic() + 30
        while tcp_states(local_port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert tcp_states(local_port) == [], "the server still holds the connection"
        client.close()
