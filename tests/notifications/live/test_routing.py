"""The ASGI application of the server (`live.routing.application`): plain HTTP through the WSGI
bridge, the live endpoint's Channels routes, a site's own consumers beside them, lifespan."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.urls import path

from kinto_django import jsonutil
from kinto_django.notifications.live import routing
from kinto_django.notifications.live.hub import get_hub
from kinto_django.notifications.live.runtime import publisher
from tests import factories
from tests.notifications.conftest import TIMEOUT, basic


@pytest.fixture
def http_app():
    from kinto_project.asgi import http_application

    return http_application


def http_scope(method: str, path: str, query: bytes = b"", headers=()) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }


async def request(application, scope: dict, *chunks: bytes) -> tuple[dict, bytes]:
    communicator = ApplicationCommunicator(application, scope)
    for index, chunk in enumerate(chunks or (b"",)):
        more = index < len(chunks) - 1
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": more})
    start = await communicator.receive_output(TIMEOUT)
    body = await communicator.receive_output(TIMEOUT)
    await communicator.wait(TIMEOUT)
    return start, body["body"]


def test_plain_http_goes_to_the_api(live, api):
    factories.collection(api)
    auth = (b"authorization", basic("alice").encode())

    async def scenario():
        start, body = await request(live.application, http_scope("GET", "/v1/"))
        assert start["status"] == 200
        assert jsonutil.loads(body)["project_name"] == "kinto"
        # Raw UTF-8 in the query string reaches the filters as the WSGI server gave it.
        start, body = await request(
            live.application,
            http_scope("GET", f"/v1{factories.RECORDS}", "title=été".encode(), [auth]),
        )
        assert start["status"] == 200 and jsonutil.loads(body) == {"data": []}
        # A body in several chunks.
        json_type = (b"content-type", b"application/json")
        start, body = await request(
            live.application,
            http_scope("POST", f"/v1{factories.RECORDS}", headers=[auth, json_type]),
            b'{"data": {"tit',
            b'le": "lamp"}}',
        )
        assert start["status"] == 201
        assert jsonutil.loads(body)["data"]["title"] == "lamp", body

    live.run(scenario)


def test_an_oversized_body_is_refused_without_being_read(live, api, kinto_settings):
    kinto_settings(max_request_body_bytes=10)

    async def scenario():
        headers = [
            (b"authorization", basic("alice").encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"1000000"),
        ]
        communicator = ApplicationCommunicator(
            live.application, http_scope("POST", "/v1/buckets", headers=headers)
        )
        # Nothing of the body is sent: the answer comes from the declared length alone.
        start = await communicator.receive_output(TIMEOUT)
        assert start["status"] == 413

    live.run(scenario)


def test_websockets_elsewhere_than_the_live_path_are_refused(live):
    async def scenario():
        scope = {"type": "websocket", "path": "/v1/buckets", "headers": [], "subprotocols": []}
        communicator = ApplicationCommunicator(live.application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        assert await communicator.receive_output(TIMEOUT) == {
            "type": "websocket.close",
            "code": 4404,
        }

    live.run(scenario)


def test_only_event_stream_requests_of_the_live_path_are_streams(live, api):
    async def scenario():
        # Not asking for an event stream: the HTTP application (the API) answers.
        start, body = await request(live.application, http_scope("GET", "/v1/changes"))
        assert start["status"] == 406
        assert jsonutil.loads(body)["message"].startswith("Open a WebSocket")
        asking = http_scope("GET", "/v1/changes", headers=[(b"accept", b"text/event-stream")])
        start, body = await request(live.application, asking)
        # Asking for one: the stream answers (here with its error, `resource` missing).
        assert start["status"] == 400 and jsonutil.loads(body)["details"][0]["location"] == (
            "querystring"
        )

    live.run(scenario)


class Echo(AsyncWebsocketConsumer):
    """A site's own consumer."""

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=f"echo: {text_data}")


def test_a_sites_own_websocket_routes_sit_beside_the_live_endpoint(live, http_app):
    application = routing.application(http_app, [path("ws/echo", Echo.as_asgi())])

    async def scenario():
        echo = WebsocketCommunicator(application, "/ws/echo")
        assert (await echo.connect(TIMEOUT))[0]
        await echo.send_to(text_data="hi")
        assert await echo.receive_from(TIMEOUT) == "echo: hi"
        changes = WebsocketCommunicator(application, "/v1/changes")
        assert (await changes.connect(TIMEOUT))[0]
        assert jsonutil.loads(await changes.receive_from(TIMEOUT))["type"] == "hello"
        await echo.disconnect()
        await changes.disconnect()

    live.run(scenario)


def test_lifespan_attaches_the_publisher_and_stops_the_hub(live):
    async def scenario():
        communicator = ApplicationCommunicator(live.application, {"type": "lifespan"})
        await communicator.send_input({"type": "lifespan.startup"})
        assert await communicator.receive_output(TIMEOUT) == {"type": "lifespan.startup.complete"}
        assert publisher.target[0] is asyncio.get_running_loop()
        hub = get_hub()
        await hub.start()
        assert hub.tasks and not any(task.done() for task in hub.tasks)
        tasks = list(hub.tasks)
        await communicator.send_input({"type": "lifespan.shutdown"})
        assert await communicator.receive_output(TIMEOUT) == {"type": "lifespan.shutdown.complete"}
        assert all(task.done() for task in tasks)
        await communicator.wait(TIMEOUT)

    live.run(scenario)
