"""The same feed as Server-Sent Events: `GET /v1/changes` with `Accept: text/event-stream`."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from asgiref.testing import ApplicationCommunicator

from kinto_django import jsonutil
from kinto_django.notifications.live import hub as hub_module
from tests import factories
from tests.notifications.conftest import TIMEOUT, basic

RECORDS = factories.RECORDS


class Stream:
    """An event-stream request on the ASGI application, read frame by frame."""

    def __init__(self, application, query: dict, user: str | None = "alice", **headers):
        header_list = [(b"accept", b"text/event-stream")]
        if user:
            header_list.append((b"authorization", basic(user).encode()))
        header_list += [
            (k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()
        ]
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/changes",
            "raw_path": b"/v1/changes",
            "query_string": urlencode(query).encode(),
            "root_path": "",
            "headers": header_list,
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
        }
        self.communicator = ApplicationCommunicator(application, scope)
        self.pending = b""

    async def start(self) -> dict:
        await self.communicator.send_input({"type": "http.request", "body": b""})
        return await self.communicator.receive_output(TIMEOUT)

    async def body(self) -> bytes:
        message = await self.communicator.receive_output(TIMEOUT)
        return message["body"]

    async def frame(self) -> dict:
        """The next event (keep-alive comments and `retry:` skipped): id and data."""
        while b"\n\n" not in self.pending:
            self.pending += await self.body()
        raw, self.pending = self.pending.split(b"\n\n", 1)
        fields = dict(line.split(b": ", 1) for line in raw.split(b"\n") if b": " in line)
        if b"data" not in fields:
            return await self.frame()
        return {
            "id": fields.get(b"id", b"").decode() or None,
            "data": jsonutil.loads(fields[b"data"]),
        }

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(TIMEOUT)


def test_event_stream_sends_changes_with_their_timestamp_as_id(live, api):
    factories.collection(api)

    async def scenario():
        stream = Stream(live.application, {"resource": RECORDS, "status": "paid"})
        start = await stream.start()
        assert start["status"] == 200
        assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
        subscribed = await stream.frame()
        assert subscribed["data"]["type"] == "subscribed"
        await live.call(factories.record, api, {"status": "open"}, record_id="a")
        record = await live.call(factories.record, api, {"status": "paid"}, record_id="b")
        change = await stream.frame()
        assert change["id"] == str(record["last_modified"])
        assert change["data"]["id"] == "b"
        assert change["data"]["subscription"] == "stream"
        await stream.close()

    live.run(scenario)


def test_last_event_id_resumes_the_stream(live, api):
    factories.collection(api)
    first = factories.record(api, {"n": 1}, record_id="a")
    factories.record(api, {"n": 2}, record_id="b")
    api.delete(f"{RECORDS}/a")

    async def scenario():
        stream = Stream(
            live.application,
            {"resource": RECORDS, "since": 0},
            last_event_id=str(first["last_modified"]),
        )
        assert (await stream.start())["status"] == 200
        assert (await stream.frame())["data"]["type"] == "subscribed"
        b, a = await stream.frame(), await stream.frame()
        assert (b["data"]["id"], b["data"]["action"]) == ("b", "update")
        assert (a["data"]["id"], a["data"]["action"]) == ("a", "delete")
        replayed = await stream.frame()
        assert replayed["data"]["type"] == "replayed" and replayed["id"] is None
        await stream.close()

    live.run(scenario)


def test_event_stream_errors_are_json_responses(live, api):
    factories.collection(api)

    async def scenario():
        stream = Stream(live.application, {"resource": RECORDS}, user="bob", origin="https://a.b")
        start = await stream.start()
        assert start["status"] == 403
        assert (b"access-control-allow-origin", b"*") in start["headers"]
        assert jsonutil.loads(await stream.body())["errno"] == 121
        anonymous = Stream(live.application, {"resource": RECORDS}, user=None)
        start = await anonymous.start()
        assert start["status"] == 401
        assert (b"www-authenticate", b'Basic realm="Realm"') in start["headers"]
        missing = Stream(live.application, {}, user="alice")
        assert (await missing.start())["status"] == 400

    live.run(scenario)


def test_plain_get_explains_how_to_subscribe(api):
    response = api.get("/changes")
    assert response.status == 406
    assert response.json["message"] == ("Open a WebSocket, or GET with Accept: text/event-stream")


def live_hub():
    (hub,) = hub_module._hubs.values()
    return hub


async def soon(condition, timeout: float = TIMEOUT) -> bool:
    """Whether `condition()` becomes true within `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def test_event_stream_headers_retry_and_keep_alive_comments(live, api, kinto_settings):
    kinto_settings(live_keepalive_seconds=0.2)
    factories.collection(api)

    async def scenario():
        stream = Stream(live.application, {"resource": RECORDS}, origin="https://app.example")
        start = await stream.start()
        assert start["status"] == 200
        headers = dict(start["headers"])
        assert headers[b"cache-control"] == b"no-cache"
        assert headers[b"x-accel-buffering"] == b"no"
        assert headers[b"access-control-allow-origin"] == b"*"
        assert await stream.body() == b"retry: 1000\n\n"
        assert (await stream.frame())["data"]["type"] == "subscribed"
        # Nothing happens: a comment keeps proxies from closing the idle stream.
        assert await stream.body() == b": keep-alive\n\n"
        await stream.close()

    live.run(scenario)


def test_a_stream_too_slow_to_read_ends(live, api, kinto_settings):
    kinto_settings(live_send_queue_size=2)
    factories.collection(api)
    batch = {
        "defaults": {"method": "POST", "path": RECORDS},
        "requests": [{"body": {"data": {"n": n}}} for n in range(5)],
    }

    async def scenario():
        stream = Stream(live.application, {"resource": RECORDS})
        assert (await stream.start())["status"] == 200
        assert (await stream.frame())["data"]["type"] == "subscribed"
        # One event of five changes, queued at once: more than the stream's queue holds.
        await live.call(api.post, "/batch", batch)
        received = b""
        while True:
            message = await stream.communicator.receive_output(TIMEOUT)
            received += message["body"]
            if not message.get("more_body"):
                break
        assert received.count(b"data: ") <= 2
        # The client resumes with Last-Event-ID; nothing of it stays in memory meanwhile.
        assert await soon(lambda: not live_hub().connections and not live_hub().local)
        await stream.close()

    live.run(scenario)


def test_a_closed_stream_leaves_nothing_behind(live, api):
    factories.collection(api)

    async def scenario():
        stream = Stream(live.application, {"resource": RECORDS})
        assert (await stream.start())["status"] == 200
        assert (await stream.frame())["data"]["type"] == "subscribed"
        assert len(live_hub().connections) == 1 and live_hub().local
        await stream.close()
        assert not live_hub().connections and not live_hub().local

    live.run(scenario)


def test_no_event_stream_when_live_push_is_disabled(live, api, kinto_settings):
    kinto_settings(live_enabled=False)
    factories.collection(api)

    async def scenario():
        stream = Stream(live.application, {"resource": RECORDS})
        assert (await stream.start())["status"] == 404
        assert jsonutil.loads(await stream.body())["errno"] == 111

    live.run(scenario)


def test_event_streams_count_toward_the_users_live_connections(live, api, kinto_settings):
    kinto_settings(live_max_connections_per_user=1)
    factories.collection(api)

    async def scenario():
        held = Stream(live.application, {"resource": RECORDS})
        assert (await held.start())["status"] == 200
        refused = Stream(live.application, {"resource": RECORDS})
        start = await refused.start()
        assert start["status"] == 429
        headers = dict(start["headers"])
        assert headers[b"retry-after"].isdigit()
        error = jsonutil.loads(await refused.body())
        assert error["errno"] == 117 and "At most 1 live connections" in error["message"]
        other = Stream(live.application, {"resource": RECORDS}, user="bob")
        assert (await other.start())["status"] in (200, 403)
        await held.close()
        await other.close()

    live.run(scenario)


def test_an_event_stream_while_the_database_is_down_is_a_503(live, api, monkeypatch):
    """As over HTTP: 503 with `Retry-After`, a JSON error, never a 500."""
    from django.db import OperationalError

    def database_down(*args):
        raise OperationalError("connection refused")

    monkeypatch.setattr("kinto_django.notifications.live.eventstream.identify", database_down)

    async def scenario():
        stream = Stream(live.application, {"resource": RECORDS}, user="alice")
        start = await stream.start()
        assert start["status"] == 503
        assert dict(start["headers"])[b"retry-after"].isdigit()
        assert jsonutil.loads(await stream.body())["errno"] == 201

    live.run(scenario)
