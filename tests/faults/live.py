"""A live client that behaves as the README tells clients to: follow one list over a
WebSocket, and whenever the connection closes (or subscribing fails), connect again and
resume with `since` = the timestamp of the last change received."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import websockets

from tests.faults.traffic import AUTH


class LiveFollower(threading.Thread):
    """Runs its own event loop in a thread; `changes` are (id, timestamp) in arrival order."""

    def __init__(self, server_url: str, resource: str) -> None:
        super().__init__(daemon=True)
        self.url = server_url.replace("http://", "ws://") + "/changes"
        self.resource = resource
        self.changes: list[tuple[str, int]] = []
        self.close_codes: list[int | None] = []
        self.subscribe_errors: list[dict[str, Any]] = []
        self.connections = 0
        # Per connection: the `since` it resumed from, the `subscribed` timestamp, and the
        # first and last change received (for the report of a failure).
        self.sessions: list[dict[str, Any]] = []
        self.since: int | None = None
        self.subscribed = threading.Event()
        self.stopping = threading.Event()
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.follow())
        except BaseException as error:  # noqa: BLE001 - checked by the test
            self.crash = error

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)

    async def follow(self) -> None:
        credentials = base64.b64encode(":".join(AUTH).encode()).decode()
        headers = {"Authorization": f"Basic {credentials}"}
        while not self.stopping.is_set():
            try:
                async with websockets.connect(self.url, additional_headers=headers) as socket:
                    self.connections += 1
                    await self.session(socket)
            except websockets.ConnectionClosed as closed:
                self.close_codes.append(closed.rcvd.code if closed.rcvd else None)
            except (OSError, websockets.InvalidStatus, TimeoutError):
                pass
            await asyncio.sleep(0.2)

    async def session(self, socket: Any) -> None:
        hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert hello["type"] == "hello", hello
        subscribe = {"type": "subscribe", "id": "s", "resource": self.resource}
        log: dict[str, Any] = {"since": self.since, "at": time.time()}
        self.sessions.append(log)
        if self.since is not None:
            subscribe["since"] = self.since
        await socket.send(json.dumps(subscribe))
        while not self.stopping.is_set():
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
            except TimeoutError:
                continue
            if message["type"] == "subscribed":
                self.subscribed.set()
                log["subscribed"] = message["timestamp"]
                if self.since is None:
                    self.since = message["timestamp"]
            elif message["type"] == "error":
                # Subscribing while the feed is down: try again on a new connection.
                self.subscribe_errors.append(message)
                return
            elif message["type"] == "change":
                self.changes.append((message["id"], message["timestamp"]))
                log.setdefault("first", message["timestamp"])
                log["last"] = message["timestamp"]
                log["count"] = log.get("count", 0) + 1
                self.since = message["timestamp"]
        await socket.close()

    def wait_for(self, versions: set[tuple[str, int]], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not versions <= set(self.changes):
            missing = versions - set(self.changes)
            assert time.monotonic() < deadline, (
                f"{len(missing)} of {len(versions)} changes never received, e.g. "
                f"{sorted(missing)[:3]}; closes {self.close_codes}, "
                f"{len(self.subscribe_errors)} subscribe errors; sessions {self.sessions}"
            )
            time.sleep(0.1)
