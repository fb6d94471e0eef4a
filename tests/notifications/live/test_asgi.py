"""The ASGI application of the server: plain HTTP through the WSGI bridge, the live
endpoint's routes."""

from __future__ import annotations

from asgiref.testing import ApplicationCommunicator

from kinto_django import jsonutil
from tests import factories
from tests.notifications.conftest import TIMEOUT, basic


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
        assert (await communicator.receive_output(TIMEOUT))["type"] == "websocket.close"

    live.run(scenario)
