"""Live tests: real commits (`transactional_db`, so that events are sent), the in-memory
channel layer, and Channels' WebSocket communicator on the project's ASGI application.

Each test body is a coroutine run by `live.run(...)` in an event loop thread, while the
synchronous API calls it awaits (`live.call(api.post, …)`) run in the test's own thread, on
the test database connection.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db.backends.signals import connection_created

from kinto_django import jsonutil
from kinto_django.notifications.live import hub as hub_module
from kinto_django.notifications.live.runtime import (
    close_database_connections,
    close_pool_connections,
)
from tests.conftest import PASSWORD, Api
from tests.notifications.receivers import WebhookReceiver

TIMEOUT = 5


def basic(user: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Client:
    """A WebSocket client of `/v1/changes`."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def send(self, **message: Any) -> None:
        await self.communicator.send_to(text_data=jsonutil.dumps(message).decode())

    async def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return jsonutil.loads(await self.communicator.receive_from(timeout))

    async def receive_type(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message of a type, skipping others (e.g. changes before `replayed`)."""
        while True:
            message = await self.receive(timeout)
            if message["type"] == kind:
                return message

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout)

    async def subscribe(
        self, resource: str, subscription: str = "s", **options: Any
    ) -> dict[str, Any]:
        await self.send(type="subscribe", id=subscription, resource=resource, **options)
        return await self.receive()

    async def changes(self, count: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        received = []
        while len(received) < count:
            message = await self.receive(timeout)
            if message["type"] == "change":
                received.append(message)
        return received

    async def close(self) -> None:
        await self.communicator.disconnect()


class Live:
    """Runs a test's coroutine and opens WebSocket clients on the ASGI application."""

    def __init__(self) -> None:
        from kinto_project.asgi import application

        self.application = application

    def run(self, scenario: Any) -> Any:
        async def main() -> Any:
            try:
                return await scenario()
            finally:
                for hub in list(hub_module._hubs.values()):
                    await hub.stop()
                hub_module._hubs.clear()

        return async_to_sync(main)()

    async def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a synchronous call (an API request) in the test's thread."""
        return await sync_to_async(function)(*args, **kwargs)

    async def connect(self, user: str | None = None, **headers: str) -> Client:
        header_list = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if user is not None:
            header_list.append((b"authorization", basic(user).encode()))
        communicator = WebsocketCommunicator(self.application, "/v1/changes", header_list)
        connected, _ = await communicator.connect(TIMEOUT)
        assert connected
        client = Client(communicator)
        hello = await client.receive()
        assert hello["type"] == "hello"
        return client


def no_table_locks(sender: Any, connection: Any, **kwargs: Any) -> None:
    """SQLite's test database is a shared-cache in-memory database, where a reader locks the
    tables it reads and a concurrent writer fails at once (`database table is locked`)
    instead of waiting as with a database file. The live threads (hub, connections) read
    while the test writes: their reads must not take those locks."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")


@pytest.fixture
def receiver() -> Any:
    """A local webhook receiver, listening (tests/notifications/receivers.py)."""
    hook = WebhookReceiver().start()
    yield hook
    hook.stop()


@pytest.fixture
def live(transactional_db: Any) -> Any:
    channel_layers.backends.clear()
    connection_created.connect(no_table_locks)
    yield Live()
    channel_layers.backends.clear()
    close_database_connections()
    from kinto_project.asgi import http_application

    close_pool_connections(http_application.executor)
    connection_created.disconnect(no_table_locks)


@pytest.fixture
def api(transactional_db: Any) -> Api:
    from django.test import Client as DjangoClient

    return Api(DjangoClient(), user="alice")


async def gather(*coroutines: Any) -> list[Any]:
    return await asyncio.gather(*coroutines)
