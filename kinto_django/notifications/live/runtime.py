"""Where the live machinery runs: database work off the event loop, the publisher that
puts committed events on the channel layer in commit order, and the cutting of connections
whose client reads nothing.

Database calls of the live endpoint run in two small thread pools, never on the event loop:
one thread for the hub (events are decided one after the other, in order) and a few for the
connections (authentication, authorization, replays), so that a long replay never delays
live deliveries. The hub's database connection stays open like the HTTP workers'
(`conn_max_age`); the connections' pool gives its connections back once it has been idle
for a while (`release_idle_connections`, run by the hub), so that an idle process holds one
database connection for its live side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import close_old_connections, connections

from kinto_django import errors

logger = logging.getLogger(__name__)
T = TypeVar("T")

CONNECTION_THREADS = 4
_executors: dict[str, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()
# Calls running in each pool.
_busy: dict[str, int] = {}


def _executor(name: str) -> ThreadPoolExecutor:
    with _executors_lock:
        executor = _executors.get(name)
        if executor is None:
            workers = 1 if name == "hub" else CONNECTION_THREADS
            executor = _executors[name] = ThreadPoolExecutor(workers, f"kinto-live-{name}")
        return executor


def _in_thread(pool: str, function: Callable[..., T], *args: Any) -> T:
    with _executors_lock:
        _busy[pool] = _busy.get(pool, 0) + 1
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()
        if pool != "hub" and errors.connections_are_short():
            connections["default"].close()  # the slot goes to whoever needs one now
        with _executors_lock:
            _busy[pool] -= 1


def release_idle_connections(pool: str = "connections") -> bool:
    """Close the database connections of a pool's threads if none is working and no work
    waits (without waiting for it): handshakes and replays come in bursts, and each thread
    would otherwise hold one of the database's connection slots for `conn_max_age` (a
    server short of slots would not recover once load drops). True if it was idle."""
    with _executors_lock:
        executor = _executors.get(pool)
        if executor is None or _busy.get(pool, 0) or not executor._work_queue.empty():
            return False
    close_each_thread_connection(executor, barrier_timeout=1)
    return True


async def run_db(pool: str, function: Callable[..., T], *args: Any) -> T:
    """Run database work in the `hub` or `connections` thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(pool), _in_thread, pool, function, *args)


def close_database_connections() -> None:
    """Close the connections the pools' threads hold and stop the pools (test teardown,
    before the test database is dropped)."""
    with _executors_lock:
        executors = list(_executors.values())
        _executors.clear()
    for executor in executors:
        close_pool_connections(executor)
        executor.shutdown(wait=True)


def close_pool_connections(executor: ThreadPoolExecutor) -> None:
    """Close the database connection of every thread of a pool, and wait until done."""
    for future in close_each_thread_connection(executor, barrier_timeout=5):
        future.result()


def close_each_thread_connection(executor: ThreadPoolExecutor, barrier_timeout: float) -> list:
    """Submit one closing task per thread of the pool (the futures, not waited for)."""
    workers = executor._max_workers
    barrier = threading.Barrier(workers, timeout=barrier_timeout)
    return [executor.submit(_close_connection, barrier) for _ in range(workers)]


def _close_connection(barrier: threading.Barrier) -> None:
    # Every thread of the pool must run this once: the barrier keeps each busy until all
    # have one (an idle thread would otherwise take two).
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    connections.close_all()


class Publisher:
    """Sends committed events to the channel layer, one after the other, from one event loop.

    In the server process, that loop is the ASGI server's (the layer's connections live
    there, and the in-memory layer is not thread-safe); HTTP writes, which run in threads,
    hand their events over. A process without one (a WSGI-only server, a management
    command) starts a thread with its own loop, when the layer reaches other processes.
    Sending in sequence keeps the order in which events were handed over.
    """

    def __init__(self) -> None:
        self.target: tuple[asyncio.AbstractEventLoop, asyncio.Queue] | None = None
        self.lock = threading.Lock()
        # Called (in the publishing loop) when an event could not be sent: the process's
        # hub closes its live connections, whose clients then resume from the database.
        self.on_failure: Callable[[], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Publish from `loop` (called from inside it, by the ASGI application)."""
        target = self.target
        if target is not None and target[0] is loop:
            return
        queue: asyncio.Queue = asyncio.Queue()
        loop.create_task(self._run(queue))
        self.target = (loop, queue)

    async def _run(self, queue: asyncio.Queue) -> None:
        while True:
            group_names, message = await queue.get()
            layer = get_channel_layer()
            for group in group_names:
                try:
                    await layer.group_send(group, {**message, "group": group})
                except Exception:  # noqa: BLE001 - a layer outage must not stop the next ones
                    logger.exception("Live broadcast to %s failed", group)
                    if self.on_failure is not None:
                        self.on_failure()

    def _start_own_loop(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue]:
        with self.lock:
            target = self.target
            if target is not None and not target[0].is_closed():
                return target
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                self.attach(loop)
                ready.set()
                loop.run_forever()

            threading.Thread(target=run, name="kinto-live-publisher", daemon=True).start()
            ready.wait()
            return self.target

    def publish(self, group_names: list[str], message: dict[str, Any]) -> None:
        """Queue a message for these groups (from any thread); never blocks the caller."""
        target = self.target
        if target is None or target[0].is_closed():
            if isinstance(get_channel_layer(), InMemoryChannelLayer):
                return  # nobody in this process listens; the layer reaches no other one
            target = self._start_own_loop()
        loop, queue = target
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (group_names, message))
        except RuntimeError:
            pass  # the loop closed meanwhile (shutdown): nobody is left to deliver to


publisher = Publisher()


# Seconds a client too slow to read has to take its closing message before its connection is
# cut: the message waits behind everything the client has not read yet.
CLOSE_GRACE_SECONDS = 5.0


def abort_connection(send: Any) -> bool:
    """Cut the TCP connection behind an ASGI `send`, for a client that does not read: a
    closing frame or an end of stream would wait behind its unread data for good. ASGI has
    no message for it; under uvicorn `send` belongs to the connection's protocol (or
    request cycle), whose transport can be aborted. False when the server offers no such
    transport (the connection then ends when the server's own keep-alive gives up)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if abort is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # A reset, not a close: the kernel would keep the unread data and retry for minutes.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    abort()
    return True


async def end_or_cut(ending: Awaitable[Any], send: Any) -> None:
    """Await the closing message of a client that reads too slowly (a WebSocket close frame,
    the end of an event stream); cut its connection if it is not taken within
    `CLOSE_GRACE_SECONDS` (the client reads nothing at all)."""
    try:
        async with asyncio.timeout(CLOSE_GRACE_SECONDS):
            await ending
    except TimeoutError:
        if abort_connection(send):
            logger.info("Live client too slow to take its closing message: connection cut")
