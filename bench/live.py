"""Live fan-out benchmark: one stream of writes, delivered to many subscribers.

Starts our server the production way (`bin/serve`, PostgreSQL, optionally Redis), opens
`--subscribers` connections (each its own user, from `--client-processes` processes)
subscribed to one collection, WebSockets or, with `--transport sse`, Server-Sent Events
streams, then writes records into it (`--writers` connections) for `--duration` seconds at
each rate of `--rates`. Each subscriber notes when each change arrives. Reports, per rate:
writes/s done, deliveries/s, the delivery latency percentiles from the write's
acknowledgement (same clock), the time until every subscriber had a change, and the knee:
the highest rate whose p99 stays under 1 s. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as http_bench  # noqa: E402  (the HTTP benchmark's server helpers)

BUCKET = "live-bench"
COLLECTION = "feed"
RECORDS = f"/buckets/{BUCKET}/collections/{COLLECTION}/records"
PASSWORD = "secret"
# After the writes, a subscriber gives up waiting for missing changes after this long.
QUIET_SECONDS = 30
# Seconds between two phases of `--rates`, for the queues to drain.
PHASE_PAUSE = 3
# p99 past which a phase is over the knee.
KNEE_MS = 1000


def authorization(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class LeanWebSocket(asyncio.Protocol):
    """A WebSocket client as lean as a client can be: frames parsed in `data_received`, the
    change's `n` found without decoding the JSON, no task per message. With a full client
    library, 500 connections in one process took longer to read a change than the server to
    send it (measured: server-side p50 35 ms, client-side 4 s at 20 writes/s): the benchmark
    then measured itself."""

    def __init__(self, user: str, host: str, path: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Authorization: {authorization(user)}\r\n\r\n"
        ).encode()
        self.buffer = bytearray()
        self.upgraded = False
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.changes: list[tuple[int, float]] = []
        self.received = 0
        self.last = time.monotonic()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert buffer.split(b" ", 2)[1] == b"101", bytes(buffer[:200])
            del buffer[: end + 4]
            self.upgraded = True
        arrived = time.time()
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 1:
                self.on_text(payload, arrived)
            elif opcode == 9:
                self.send(0xA, payload)  # pong
            elif opcode == 8 and not self.closed.done():
                self.closed.set_result(payload[:2])

    def on_text(self, payload: bytes, arrived: float) -> None:
        if b'"type":"change"' not in payload[:80]:
            self.replies.put_nowait(payload)
            return
        at = payload.index(b'"n":') + 4
        end = at
        while payload[end] in b"0123456789":
            end += 1
        self.changes.append((int(payload[at:end]), arrived))
        self.received += 1
        self.last = time.monotonic()

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        header = bytes([0x80 | opcode])
        if length < 126:
            header += bytes([0x80 | length])
        else:
            header += bytes([0x80 | 126]) + length.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(header + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(b"lost")


async def open_lean_websocket(url: str, user: str) -> LeanWebSocket:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, socket = await asyncio.wait_for(
        loop.create_connection(
            lambda: LeanWebSocket(user, parts.netloc, parts.path + "/changes"),
            parts.hostname,
            parts.port or 80,
        ),
        120,
    )
    assert json.loads(await asyncio.wait_for(socket.replies.get(), 120))["type"] == "hello"
    subscribe = {"type": "subscribe", "id": "s", "resource": RECORDS}
    socket.send(1, json.dumps(subscribe).encode())
    answer = json.loads(await asyncio.wait_for(socket.replies.get(), 120))
    assert answer["type"] == "subscribed", answer
    return socket


class open_event_stream:
    """`GET /changes` with `Accept: text/event-stream` on a plain connection (HTTP/1.1, chunked
    body), read by a task into a queue so that `recv()` may time out without losing data."""

    def __init__(self, url: str, user: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.target = f"{parts.path}/changes?{urlencode({'resource': RECORDS})}"
        self.user = user
        self.messages: asyncio.Queue[str] = asyncio.Queue()

    async def __aenter__(self) -> Any:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), 120
        )
        request = (
            f"GET {self.target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Accept: text/event-stream\r\nAuthorization: {authorization(self.user)}\r\n\r\n"
        )
        self.writer.write(request.encode())
        status = await asyncio.wait_for(self.reader.readline(), 120)
        assert status.split()[1] == b"200", status
        while (await self.reader.readline()).strip():
            pass  # headers
        self.task = asyncio.create_task(self.read())
        answer = json.loads(await self.recv())
        assert answer["type"] == "subscribed", answer
        return self

    async def read(self) -> None:
        pending = b""
        while True:
            size = int((await self.reader.readline()).strip(), 16)
            if size == 0:
                return
            pending += (await self.reader.readexactly(size + 2))[:-2]
            while b"\n\n" in pending:
                frame, pending = pending.split(b"\n\n", 1)
                for line in frame.split(b"\n"):
                    if line.startswith(b"data: "):
                        self.messages.put_nowait(line[6:].decode())

    async def recv(self) -> str:
        return await self.messages.get()

    async def __aexit__(self, *exc: Any) -> None:
        self.task.cancel()
        self.writer.close()


async def subscribers(
    url: str,
    transport: str,
    users: list[str],
    ready: Any,
    written: Any,
    results: Any,
) -> None:
    """One client process: its share of the connections, until each has every change (or
    nothing came for `QUIET_SECONDS` after the writes ended). Reports when each change
    (by its record's `n`) arrived on each connection."""
    arrivals_by_n: list[tuple[int, float]] = []
    counts: list[int] = []
    arrivals: list[float] = [0.0]

    async def one(user: str, opened: asyncio.Event) -> None:
        if transport == "ws":
            await one_websocket(user, opened)
            return
        async with open_event_stream(url, user) as socket:
            opened.set()
            received = 0
            last = time.monotonic()
            while True:
                total = written.value
                if total >= 0 and (received >= total or time.monotonic() - last > QUIET_SECONDS):
                    break
                try:
                    text = await asyncio.wait_for(socket.recv(), 1)
                except TimeoutError:
                    continue
                arrived = time.time()
                last = time.monotonic()
                message = json.loads(text)
                if message.get("type") == "change":
                    received += 1
                    arrivals_by_n.append((message["data"]["n"], arrived))
                    arrivals[0] = max(arrivals[0], arrived)
            counts.append(received)

    async def one_websocket(user: str, opened: asyncio.Event) -> None:
        socket = await open_lean_websocket(url, user)
        opened.set()
        try:
            while True:
                total = written.value
                quiet = time.monotonic() - socket.last > QUIET_SECONDS
                if total >= 0 and (socket.received >= total or quiet):
                    break
                if socket.closed.done():
                    raise RuntimeError(f"closed by the server: {socket.closed.result()!r}")
                await asyncio.sleep(0.5)
        finally:
            socket.transport.close()
            arrivals_by_n.extend(socket.changes)
            if socket.changes:
                arrivals[0] = max(arrivals[0], max(at for _, at in socket.changes))
            counts.append(socket.received)

    tasks, opened = [], []
    for user in users:
        event = asyncio.Event()
        opened.append(event)
        tasks.append(asyncio.create_task(one(user, event)))
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.05)  # do not flood the accept queue
    await asyncio.gather(*(event.wait() for event in opened))
    ready.set()
    outcome = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(o) for o in outcome if isinstance(o, BaseException)]
    results.put(
        {
            "arrivals": arrivals_by_n,
            "counts": counts,
            "errors": errors[:5],
            "last_arrival": arrivals[0],
        }
    )


def subscriber_process(url, transport, users, ready, written, results) -> None:
    asyncio.run(subscribers(url, transport, users, ready, written, results))


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children (the gunicorn
    master and its workers): what the server spent, whatever else the machine ran."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state ppid ... utime (12th) stime (13th).
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def write_stream(
    url: str,
    duration: float,
    rates: list[float],
    writers: int,
    server_cpu: Any = None,
) -> tuple[list[tuple[int, float, float, int]], list[float | None]]:
    """Write records for `duration` seconds at each of `rates` (writes per second, shared by
    `writers` threads with a connection each), one phase after the other. Every write as
    `(n, sent, acknowledged, phase)`, and the server's CPU seconds per phase (writes, fan-out
    and the pause after, when `server_cpu()` tells)."""
    cpu: list[float | None] = []
    done: list[tuple[int, float, float, int]] = []
    counter = itertools.count()
    lock = threading.Lock()

    def writer(phase: int, rate: float, start: float) -> None:
        session = requests.Session()
        session.auth = ("writer", PASSWORD)
        interval = writers / rate if rate > 0 else 0
        next_at = start
        while time.time() - start < duration:
            with lock:
                n = next(counter)
            sent = time.time()
            response = session.post(
                url + RECORDS, json={"data": {"sent_at": sent, "n": n}}, timeout=60
            )
            response.raise_for_status()
            acked = time.time()
            with lock:
                done.append((n, sent, acked, phase))
            next_at += interval
            pause = next_at - time.time()
            if pause > 0:
                time.sleep(pause)

    for phase, rate in enumerate(rates):
        cpu_before = server_cpu() if server_cpu else None
        start = time.time()
        threads = [
            threading.Thread(target=writer, args=(phase, rate, start + i * 1 / rate))
            for i in range(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        log(
            f"phase {phase}: {rate:g} writes/s asked, "
            f"{sum(1 for w in done if w[3] == phase) / duration:.1f} done"
        )
        # The pause lets the fan-out of the last writes end (within the phase's CPU time).
        time.sleep(PHASE_PAUSE)
        cpu.append(server_cpu() - cpu_before if cpu_before is not None else None)
    return done, cpu


def phase_figures(
    writes: list[tuple[int, float, float, int]],
    arrivals: list[tuple[int, float]],
    subscribers: int,
    duration: float,
    cpu: list[float | None],
) -> list[dict[str, Any]]:
    """Per phase: writes/s done, deliveries, and delivery latency from the write's
    acknowledgement (what a client that wrote then waits for), per change and until every
    subscriber had it."""
    by_n = {n: (sent, acked, phase) for n, sent, acked, phase in writes}
    per_phase: dict[int, list[float]] = {}
    last_arrival: dict[int, float] = {}
    for n, arrived in arrivals:
        sent, acked, phase = by_n[n]
        per_phase.setdefault(phase, []).append(arrived - acked)
        last_arrival[n] = max(last_arrival.get(n, 0.0), arrived)
    figures = []
    for phase in sorted({w[3] for w in writes}):
        written = [w for w in writes if w[3] == phase]
        latencies = per_phase.get(phase, [])
        everyone = [last_arrival[n] - acked for n, _, acked, _ in written if n in last_arrival]
        figures.append(
            {
                "writes_per_second": round(len(written) / duration, 1),
                "deliveries_per_second": round(len(latencies) / duration, 1),
                "missing": len(written) * subscribers - len(latencies),
                "p50_ms": ms(statistics.median(latencies)) if latencies else None,
                "p99_ms": ms(percentile(latencies, 0.99)) if latencies else None,
                "max_ms": ms(max(latencies)) if latencies else None,
                "all_reached_p50_ms": ms(statistics.median(everyone)) if everyone else None,
                "write_ack_p50_ms": ms(statistics.median(w[2] - w[1] for w in written)),
                # Server CPU per 1,000 deliveries (writes included): compare code side by
                # side with this, latency on a shared machine is mostly its load.
                "server_cpu_ms_per_1k": (
                    round(cpu[phase] * 1000 / (len(latencies) / 1000), 1)
                    if cpu[phase] is not None and latencies
                    else None
                ),
            }
        )
    return figures


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def prepare(url: str) -> None:
    session = requests.Session()
    session.auth = ("writer", PASSWORD)
    session.delete(f"{url}/buckets/{BUCKET}", timeout=30)
    session.put(f"{url}/buckets/{BUCKET}", timeout=30).raise_for_status()
    session.put(
        f"{url}/buckets/{BUCKET}/collections/{COLLECTION}",
        json={"permissions": {"read": ["system.Authenticated"]}},
        timeout=30,
    ).raise_for_status()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--transport", choices=("ws", "sse"), default="ws", help="WebSocket or event stream"
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds of writes")
    parser.add_argument(
        "--rates",
        default="50",
        help="writes per second, one phase of --duration each (comma-separated), e.g. "
        "5,10,20,40,80 to find the knee",
    )
    parser.add_argument("--writers", type=int, default=4, help="writing connections")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--redis-url", default="", help="KINTO_REDIS_URL (needed for workers > 1)")
    parser.add_argument("--port", type=int, default=9154)
    parser.add_argument(
        "--db-url", default="postgresql://postgres@127.0.0.1:5432/kinto_bench_fanout"
    )
    parser.add_argument("--url", help="an already running server (nothing is started)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    rates = [float(rate) for rate in args.rates.split(",")]
    load_before = os.getloadavg()[0]
    server = None
    url = args.url
    if url is None:
        workdir = Path(tempfile.mkdtemp(prefix="live-bench-"))
        server = http_bench.our_server(args, workdir)
        server.start()
        url = server.url
    try:
        prepare(url)
        users = [f"user{n}" for n in range(args.subscribers)]
        shares = [users[i :: args.client_processes] for i in range(args.client_processes)]
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        readies = [context.Event() for _ in shares]
        # Set once the writes are over: how many changes each subscriber must receive.
        written_total = context.Value("i", -1)
        processes = [
            context.Process(
                target=subscriber_process,
                args=(url, args.transport, share, ready, written_total, results),
            )
            for share, ready in zip(shares, readies, strict=True)
        ]
        log(f"opening {args.subscribers} subscriptions ({args.transport})")
        opening = time.time()
        for process in processes:
            process.start()
        for ready in readies:
            if not ready.wait(300):
                raise RuntimeError("subscribers did not connect in time")
        log(f"subscribed in {time.time() - opening:.1f} s; writing for {args.duration:g} s a rate")
        server_cpu = (lambda: tree_cpu_seconds(server.process.pid)) if server else None
        writes, cpu = write_stream(url, args.duration, rates, args.writers, server_cpu)
        written_total.value = len(writes)
        log(f"{len(writes)} writes; waiting for the deliveries")
        outcomes = [results.get(timeout=900) for _ in processes]
        for process in processes:
            process.join(60)
    finally:
        if server is not None:
            server.stop()
            http_bench.recreate_database(args.db_url, drop_only=True)

    arrivals = [pair for o in outcomes for pair in o["arrivals"]]
    counts = [value for o in outcomes for value in o["counts"]]
    errors = [value for o in outcomes for value in o["errors"]]
    phases = phase_figures(writes, arrivals, args.subscribers, args.duration, cpu)
    under = [p for p in phases if p["p99_ms"] is not None and p["p99_ms"] <= KNEE_MS]
    over = [p for p in phases if p not in under]
    figures = {
        "transport": args.transport,
        "subscribers": args.subscribers,
        "connections_closed_early": args.subscribers - len(counts),
        "workers": args.workers,
        "redis": bool(args.redis_url),
        "writes": len(writes),
        "missing": len(writes) * args.subscribers - len(arrivals),
        "phases": phases,
        # The highest sustained rate whose p99 stayed under KNEE_MS, and the first past it.
        "knee_writes_per_second": under[-1]["writes_per_second"] if under else None,
        "first_over_knee": over[0]["writes_per_second"] if over else None,
        "errors": errors,
        "commit": http_bench.git_commit(),
        "cores": os.cpu_count(),
        "load_average_before": load_before,
    }
    print("== live fan-out ==")
    for key, value in figures.items():
        if key != "phases":
            print(f"{key:26} {value}")
    print(
        f"{'writes/s':>9} {'deliv/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'all p50':>8} {'ack p50':>8} {'missing':>8} {'cpu/1k':>8}"
    )
    for p in phases:
        print(
            f"{p['writes_per_second']:>9} {p['deliveries_per_second']:>9} {p['p50_ms']!s:>8} "
            f"{p['p99_ms']!s:>8} {p['max_ms']!s:>8} {p['all_reached_p50_ms']!s:>8} "
            f"{p['write_ack_p50_ms']!s:>8} {p['missing']:>8} {p['server_cpu_ms_per_1k']!s:>8}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if figures["missing"] == 0 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
