"""A hostile live subscription against a real server: its matching runs on the event loop
that serves every request of the process, so it must stay cheap whatever the filter."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

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
