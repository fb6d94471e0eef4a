#!/usr/bin/env python3
"""HTTP benchmark of the server, optionally side by side with the reference Kinto.

Run from the repository root with the project's virtualenv (it needs psycopg2 to create the
benchmark databases):

    .venv/bin/python bench/run.py                      # start our server, seed, measure
    .venv/bin/python bench/run.py --reference          # ... then the reference, compare
    .venv/bin/python bench/run.py --url http://127.0.0.1:8888   # an already running server

See bench/README.md for every option and how to read the output. Only the standard library
(plus psycopg2 for database creation) is used on the client side.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import math
import multiprocessing
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
REFERENCE_REQUIREMENT = "kinto[postgresql]==26.5.0"
REFERENCE_VERSION = "26.5.0"
SECRET = "bench-userid-hmac-secret"
AUTH_USER, AUTH_PASSWORD = "bench", "bench-password"
BATCH_SIZE = 25
TAGS = ["red", "green", "blue", "sale", "new", "eco", "bulk", "gift", "fragile", "heavy"]
COLORS = ["black", "white", "grey", "navy", "olive"]

# The gunicorn options of bin/serve (ours is started through bin/serve itself; the reference
# gets the same ones so that only the application differs).
GUNICORN_OPTIONS = [
    "--worker-class",
    "gthread",
    "--keep-alive",
    "5",
    "--limit-request-line",
    "8190",
    "--access-logfile",
    "-",
]


# ----------------------------------------------------------------------------------------------
# HTTP client (one keep-alive connection per client worker)


class Client:
    """A keep-alive HTTP/1.1 connection that reconnects once when the server closed it."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        token = base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        self.conn: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method, path, body=None, headers=None):
        """Send one request; return (status, headers as a lower-cased dict, body bytes)."""
        all_headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if headers:
            all_headers.update(headers)
        url = path if path.startswith(self.prefix + "/") else self.prefix + path
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, url, body=payload, headers=all_headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                # The server closed an idle keep-alive connection: reconnect and resend once.
                self.close()
                self.reconnects += 1
                if attempt == 2:
                    raise
                continue
            response_headers = {k.lower(): v for k, v in response.getheaders()}
            if response_headers.get("connection", "").lower() == "close":
                self.close()
            return response.status, response_headers, data
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def path_of(url: str) -> str:
    """The path and query of an absolute URL (Next-Page), to send on the same connection."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


# ----------------------------------------------------------------------------------------------
# Data set


def make_record(rng: random.Random, number: int) -> dict:
    return {
        "qty": rng.randrange(100),
        "title": f"Item {number:05d} {rng.choice(COLORS)}",
        "details": {
            "color": rng.choice(COLORS),
            "dims": {"w": rng.randrange(1, 200), "h": rng.randrange(1, 200)},
            "fragile": rng.random() < 0.2,
        },
        "tags": rng.sample(TAGS, rng.randrange(1, 4)),
    }


@dataclass
class Target:
    """What the scenarios work on, prepared by the parent before forking the clients."""

    label: str
    url: str  # e.g. http://127.0.0.1:9150/v1
    bucket: str
    collection: str
    ids: list = field(default_factory=list)  # seeded record ids
    etags: dict = field(default_factory=dict)  # id -> ETag value (with quotes)
    since: int = 0  # `_since` value that returns the last few seeded records
    since_expected: int = 5
    filter_matches: int = 0  # records with qty >= 10 after seeding
    total: int = 0  # records in the collection before the write scenarios
    seed_acknowledged: int = 0  # seed sub-requests answered 201
    seed_conflicts: int = 0  # seed sub-requests answered 409 (posted again)

    @property
    def collection_path(self) -> str:
        return f"/buckets/{self.bucket}/collections/{self.collection}"

    @property
    def records_path(self) -> str:
        return self.collection_path + "/records"


def check(status, expected, what):
    if status != expected:
        raise BenchError(f"{what}: HTTP {status}, expected {expected}")


class BenchError(Exception):
    pass


def create_containers(client: Client, target: Target):
    status, _, body = client.request("PUT", f"/buckets/{target.bucket}", {"data": {}})
    if status not in (200, 201):
        raise BenchError(f"creating bucket: HTTP {status} {body[:300]!r}")
    status, _, body = client.request("PUT", target.collection_path, {"data": {}})
    if status not in (200, 201):
        raise BenchError(f"creating collection: HTTP {status} {body[:300]!r}")


def batch_body(target: Target, records: list) -> dict:
    return {
        "defaults": {"method": "POST", "path": target.records_path},
        "requests": [{"body": {"data": record}} for record in records],
    }


def seed(target: Target, count: int, parallel: int) -> float:
    """POST `count` records in /batch requests of 25; return the seconds spent posting.

    Sub-requests answered 409 (concurrent writers, which the reference refuses so) are not
    retried one by one: after each round the collection is listed, and the records still
    missing are posted in a new round. The ids used by the scenarios are the listed ones.
    """
    client = Client(target.url)
    create_containers(client, target)
    rng = random.Random(20240501)
    local = threading.local()

    def send(chunk):
        if not hasattr(local, "client"):
            local.client = Client(target.url)
        status, _, body = local.client.request("POST", "/batch", batch_body(target, chunk))
        check(status, 200, "seed batch")
        statuses = [r["status"] for r in json.loads(body)["responses"]]
        bad = [s for s in statuses if s not in (201, 409)]
        if bad:
            raise BenchError(f"seed batch: sub-request statuses {bad[:5]}")
        return statuses.count(201), statuses.count(409)

    posting, number, listed = 0.0, 0, []
    for _ in range(10):
        missing = count - len(listed)
        records = [make_record(rng, number + n) for n in range(missing)]
        number += missing
        chunks = [records[i : i + BATCH_SIZE] for i in range(0, missing, BATCH_SIZE)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for acknowledged, conflicts in pool.map(send, chunks):
                target.seed_acknowledged += acknowledged
                target.seed_conflicts += conflicts
        posting += time.perf_counter() - started
        listed = full_sync(client, target, "_limit=1000&_fields=id")
        if len(listed) >= count:
            break
    else:
        raise BenchError(f"seed: only {len(listed)} of {count} records after 10 rounds")
    client.close()
    target.ids = [r["id"] for r in listed]
    return posting


def full_sync(client: Client, target: Target, query: str = "_limit=1000") -> list:
    """Every record of the collection, following Next-Page."""
    records = []
    path = f"{target.records_path}?{query}"
    while path:
        status, headers, body = client.request("GET", path)
        check(status, 200, f"GET {path}")
        records.extend(json.loads(body)["data"])
        next_page = headers.get("next-page")
        path = path_of(next_page) if next_page else None
    return records


def prepare_reads(target: Target):
    """Learn the `_since` value and the total after seeding (untimed)."""
    client = Client(target.url)
    status, _, body = client.request("GET", f"{target.records_path}?_sort=-last_modified&_limit=6")
    check(status, 200, "newest records")
    newest = json.loads(body)["data"]
    target.since_expected = min(5, len(newest) - 1)
    target.since = newest[-1]["last_modified"] if target.since_expected > 0 else 0
    records = full_sync(client, target)
    target.total = len(records)
    target.filter_matches = sum(1 for r in records if r["qty"] >= 10)
    client.close()


def refresh_etags(target: Target):
    """Read the current ETag of every seeded record (untimed, before the PATCH scenario)."""
    client = Client(target.url)
    records = full_sync(client, target, "_limit=1000&_fields=id")
    client.close()
    current = {r["id"]: f'"{r["last_modified"]}"' for r in records}
    target.etags = {rid: current[rid] for rid in target.ids if rid in current}


# ----------------------------------------------------------------------------------------------
# Scenarios: `run` is timed; it returns (ok, status). `validate` runs once, untimed, before.


class Scenario:
    name = ""
    description = ""
    needs_etags = False

    def __init__(self, target: Target, worker: int, workers: int):
        self.target = target
        self.worker = worker
        self.workers = workers
        self.rng = random.Random(1000 + worker)

    def prepare(self, client: Client):
        """Untimed work before each timed operation."""

    def run(self, client: Client):
        raise NotImplementedError

    def validate(self, client: Client):
        ok, status = self.run(client)
        if not ok:
            raise BenchError(f"{self.name}: first request failed with HTTP {status}")


class GetOne(Scenario):
    name = "get"
    description = "GET one record"

    def run(self, client):
        record_id = self.rng.choice(self.target.ids)
        status, _, _ = client.request("GET", f"{self.target.records_path}/{record_id}")
        return status == 200, status


class ListPage(Scenario):
    name = "list"
    description = "list, page of 100"
    query = "_limit=100"
    expected = 100

    def run(self, client):
        status, _, _ = client.request("GET", f"{self.target.records_path}?{self.query}")
        return status == 200, status

    def validate(self, client):
        path = f"{self.target.records_path}?{self.query}"
        status, _, body = client.request("GET", path)
        check(status, 200, f"{self.name}: GET {path}")
        data = json.loads(body)["data"]
        expected = min(self.expected, self.matches())
        if len(data) != expected:
            raise BenchError(f"{self.name}: {len(data)} records, expected {expected}")
        self.check_page(data)

    def matches(self) -> int:
        return self.target.total

    def check_page(self, data):
        pass


class FilteredList(ListPage):
    name = "filter"
    description = "min_qty=10, sort -qty,title, 100"
    query = "min_qty=10&_sort=-qty,title&_limit=100"

    def matches(self) -> int:
        return self.target.filter_matches

    def check_page(self, data):
        keys = [(-r["qty"], r["title"]) for r in data]
        if any(r["qty"] < 10 for r in data) or keys != sorted(keys):
            raise BenchError("filter: page not filtered or not sorted")


class SincePoll(Scenario):
    name = "since"
    description = "_since poll (5 newest)"

    def run(self, client):
        path = f"{self.target.records_path}?_since={self.target.since}"
        status, _, _ = client.request("GET", path)
        return status == 200, status

    def validate(self, client):
        path = f"{self.target.records_path}?_since={self.target.since}"
        status, _, body = client.request("GET", path)
        check(status, 200, f"since: GET {path}")
        count = len(json.loads(body)["data"])
        if count != self.target.since_expected:
            raise BenchError(f"since: {count} records, expected {self.target.since_expected}")


class FullSync(Scenario):
    name = "sync"
    description = "full sync, _limit=1000 pages"

    def run(self, client):
        path = f"{self.target.records_path}?_limit=1000"
        while path:
            status, headers, _ = client.request("GET", path)
            if status != 200:
                return False, status
            next_page = headers.get("next-page")
            path = path_of(next_page) if next_page else None
        return True, 200

    def validate(self, client):
        count = len(full_sync(client, self.target))
        if count != self.target.total:
            raise BenchError(f"sync: {count} records, expected {self.target.total}")


class Create(Scenario):
    name = "create"
    description = "POST one record"

    def run(self, client):
        body = {"data": make_record(self.rng, self.rng.randrange(100000))}
        status, _, _ = client.request("POST", self.target.records_path, body)
        return status == 201, status


class Patch(Scenario):
    name = "patch"
    description = "PATCH with If-Match"
    needs_etags = True

    def __init__(self, target, worker, workers):
        super().__init__(target, worker, workers)
        # Each client works on its own records, so that its If-Match is (nearly) always fresh.
        self.mine = [rid for rid in target.ids[worker::workers] if rid in target.etags]
        self.position = 0
        self.current = None

    def prepare(self, client):
        self.current = self.mine[self.position % len(self.mine)]
        self.position += 1
        if self.current not in self.target.etags:
            status, headers, _ = client.request(
                "GET", f"{self.target.records_path}/{self.current}"
            )
            if status == 200:
                self.target.etags[self.current] = headers["etag"]

    def run(self, client):
        record_id = self.current
        status, headers, _ = client.request(
            "PATCH",
            f"{self.target.records_path}/{record_id}",
            {"data": {"qty": self.rng.randrange(100)}},
            headers={"If-Match": self.target.etags.get(record_id, '"0"')},
        )
        if status == 200:
            self.target.etags[record_id] = headers["etag"]
        else:
            self.target.etags.pop(record_id, None)  # re-read before the next attempt
        return status == 200, status

    def validate(self, client):
        if not self.mine:
            raise BenchError("patch: no seeded record with a known ETag")
        self.prepare(client)
        super().validate(client)


class BatchCreate(Scenario):
    name = "batch"
    description = "POST /batch of 25 creates"

    def run(self, client):
        rng = self.rng
        records = [make_record(rng, rng.randrange(100000)) for _ in range(BATCH_SIZE)]
        status, _, body = client.request("POST", "/batch", batch_body(self.target, records))
        if status != 200:
            return False, status
        failed = [r["status"] for r in json.loads(body)["responses"] if r["status"] != 201]
        if failed:
            return False, f"200 with sub-request {failed[0]}"
        return True, status


SCENARIOS = [GetOne, ListPage, FilteredList, SincePoll, FullSync, Create, Patch, BatchCreate]
SCENARIO_NAMES = [s.name for s in SCENARIOS]


# ----------------------------------------------------------------------------------------------
# Load generation


@dataclass
class Result:
    scenario: str
    description: str
    ops: int = 0
    errors: int = 0
    statuses: dict = field(default_factory=dict)
    elapsed: float = 0.0
    latencies: list = field(default_factory=list)
    reconnects: int = 0
    invalid: str = ""

    @property
    def rps(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000

    def summary(self) -> dict:
        return {
            "scenario": self.scenario,
            "description": self.description,
            "ops": self.ops,
            "errors": self.errors,
            "statuses": self.statuses,
            "seconds": round(self.elapsed, 3),
            "rps": round(self.rps, 2),
            "p50_ms": round(self.percentile(0.50), 3),
            "p99_ms": round(self.percentile(0.99), 3),
            "reconnects": self.reconnects,
            "invalid": self.invalid,
        }


def client_worker(cls, target, worker, workers, barrier, plan, output):
    """One client: connect, warm up, wait for the others, then loop until the plan is done."""
    duration, count = plan
    client = Client(target.url)
    scenario = cls(target, worker, workers)
    latencies, statuses, errors = [], {}, 0
    try:
        scenario.prepare(client)
        scenario.run(client)  # warm-up: connection, server-side caches; not counted
        barrier.wait(timeout=120)
        started = time.perf_counter()
        deadline = started + duration if duration else None
        done = 0
        while (deadline is None and done < count) or (deadline and time.perf_counter() < deadline):
            scenario.prepare(client)
            t0 = time.perf_counter()
            ok, status = scenario.run(client)
            elapsed = time.perf_counter() - t0
            statuses[status] = statuses.get(status, 0) + 1
            if ok:  # throughput and latency are those of successful operations
                latencies.append(elapsed)
            else:
                errors += 1
            done += 1
        finished = time.perf_counter()
        output.put((worker, started, finished, latencies, statuses, errors, client.reconnects, ""))
    except Exception as exc:  # noqa: BLE001 - any failure must reach the parent
        barrier.abort()
        output.put((worker, 0.0, 0.0, latencies, statuses, errors, client.reconnects, repr(exc)))
    finally:
        client.close()


def measure(cls, target: Target, args) -> Result:
    result = Result(cls.name, cls.description)
    probe = Client(target.url)
    try:
        cls(target, 0, args.clients).validate(probe)
    except (BenchError, KeyError, ValueError) as exc:
        result.invalid = str(exc)
    finally:
        probe.close()
    if args.requests:
        per_worker = [args.requests // args.clients] * args.clients
        for i in range(args.requests % args.clients):
            per_worker[i] += 1
    if args.client_mode == "process":
        context = multiprocessing.get_context("fork")
        barrier, output, spawn = context.Barrier(args.clients), context.Queue(), context.Process
    else:
        import queue

        barrier, output, spawn = threading.Barrier(args.clients), queue.Queue(), threading.Thread
    workers = []
    for worker in range(args.clients):
        plan = (None, per_worker[worker]) if args.requests else (args.duration, None)
        workers.append(
            spawn(
                target=client_worker,
                args=(cls, target, worker, args.clients, barrier, plan, output),
                daemon=True,
            )
        )
    for w in workers:
        w.start()
    rows = [output.get(timeout=args.duration + 600 if args.duration else 3600) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    problems = [row[7] for row in rows if row[7]]
    if problems:
        raise BenchError(f"{cls.name}: client failed: {problems[0]}")
    started = min(row[1] for row in rows)
    finished = max(row[2] for row in rows)
    result.elapsed = finished - started
    for _, _, _, latencies, statuses, errors, reconnects, _ in rows:
        result.latencies.extend(latencies)
        result.ops += len(latencies)
        result.errors += errors
        result.reconnects += reconnects
        for status, n in statuses.items():
            result.statuses[status] = result.statuses.get(status, 0) + n
    return result


def run_scenarios(target: Target, args) -> list:
    results = []
    selected = [cls for cls in SCENARIOS if cls.name in args.scenarios]
    for cls in selected:
        if cls.needs_etags:
            refresh_etags(target)
        log(f"[{target.label}] {cls.name}: {cls.description} ...")
        result = measure(cls, target, args)
        note = f"  INVALID: {result.invalid}" if result.invalid else ""
        log(
            f"[{target.label}] {cls.name}: {result.rps:.1f} ops/s, "
            f"p50 {result.percentile(0.5):.1f} ms, p99 {result.percentile(0.99):.1f} ms, "
            f"{result.errors} errors{note}"
        )
        results.append(result)
    return results


# ----------------------------------------------------------------------------------------------
# Servers and databases


def log(message: str):
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def recreate_database(url: str, drop_only: bool = False):
    try:
        import psycopg2
    except ImportError:
        sys.exit("psycopg2 is needed to create the databases: run with .venv/bin/python")
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise BenchError(f"unexpected database name {name!r}")
    conn = psycopg2.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
    )
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            # As docs/production.md recommends: C collation (both servers run on it).
            cursor.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
    conn.close()


class Server:
    """A server process group this script started (and therefore stops)."""

    def __init__(self, label, argv, env, cwd, log_path, url):
        self.label, self.argv, self.env, self.cwd = label, argv, env, cwd
        self.log_path, self.url = log_path, url
        self.process = None

    def start(self, timeout: float = 300):
        if port_answers(self.url):
            raise BenchError(f"{self.url} already answers: choose another --port/--ref-port")
        log(f"[{self.label}] starting: {' '.join(self.argv)} (log: {self.log_path})")
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.label} exited ({self.process.returncode}):\n{self.tail()}"
                )
            if port_answers(self.url, "/"):
                log(f"[{self.label}] ready at {self.url}/")
                return
            time.sleep(0.5)
        raise BenchError(f"{self.label} did not answer within {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        log(f"[{self.label}] stopping (pid {self.process.pid})")
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        self.log_file.close()


def port_answers(url: str, path: str = "/") -> bool:
    parts = urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=2)
        conn.request("GET", parts.path.rstrip("/") + path)
        status = conn.getresponse().status
        conn.close()
        return status == 200
    except OSError:
        return False


def our_server(args, workdir: Path) -> Server:
    recreate_database(args.db_url)
    url = f"http://127.0.0.1:{args.port}/v1"
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("KINTO_") or k == "DATABASE_URL"]:
        del env[key]
    env.update(
        KINTO_STORAGE_URL=args.db_url,
        KINTO_BIND=f"127.0.0.1:{args.port}",
        KINTO_WORKERS=str(args.workers),
        KINTO_THREADS=str(args.threads),
        KINTO_PRODUCTION="true",
        KINTO_SECRET_KEY="bench-django-secret-" + uuid.uuid4().hex,
        KINTO_USERID_HMAC_SECRET=SECRET,
        KINTO_ALLOWED_HOSTS="127.0.0.1 localhost",
    )
    if args.redis_url:
        env["KINTO_REDIS_URL"] = args.redis_url
    # bin/serve installs requirements, migrates, creates the cache table and execs gunicorn.
    argv = [str(REPO / "bin" / "serve")]
    return Server("ours", argv, env, str(REPO), str(workdir / "ours.log"), url)


REFERENCE_INI = """\
# Written by bench/run.py: reference Kinto for the benchmark.
[app:main]
use = egg:kinto
kinto.includes =
kinto.storage_backend = kinto.core.storage.postgresql
kinto.storage_url = {db}
kinto.cache_backend = kinto.core.cache.postgresql
kinto.cache_url = {db}
kinto.permission_backend = kinto.core.permission.postgresql
kinto.permission_url = {db}
kinto.userid_hmac_secret = {secret}
multiauth.policies = basicauth
multiauth.policy.basicauth.use = kinto.core.authentication.BasicAuthAuthenticationPolicy
kinto.bucket_create_principals = system.Authenticated

[loggers]
keys = root, kinto

[handlers]
keys = console

[formatters]
keys = plain

[logger_root]
level = INFO
handlers = console

[logger_kinto]
level = INFO
handlers = console
qualname = kinto
propagate = 0

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = plain

[formatter_plain]
format = %(asctime)s %(levelname)s [%(name)s] %(message)s
"""


def reference_venv(args) -> Path:
    venv = Path(args.ref_venv)
    python = venv / "bin" / "python"
    if (venv / "bin" / "gunicorn").exists() and (venv / "bin" / "kinto").exists():
        version = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('kinto'))"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if version == REFERENCE_VERSION:
            return venv
    log(f"[reference] installing {REFERENCE_REQUIREMENT} + gunicorn into {venv}")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install_log = Path(args.workdir) / "reference-install.log"
    with open(install_log, "wb") as out:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
            + [REFERENCE_REQUIREMENT, "gunicorn"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode:
        tail = "\n".join(install_log.read_text(errors="replace").splitlines()[-20:])
        raise BenchError(f"installing the reference failed (see {install_log}):\n{tail}")
    return venv


def reference_server(args, workdir: Path) -> Server:
    venv = reference_venv(args)
    recreate_database(args.ref_db_url)
    ini = workdir / "reference.ini"
    ini.write_text(REFERENCE_INI.format(db=args.ref_db_url, secret=SECRET))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
    env["KINTO_INI"] = str(ini)  # read by the reference's root view
    log_path = workdir / "reference.log"
    with open(log_path, "ab") as out:
        subprocess.run(
            [str(venv / "bin" / "kinto"), "migrate", "--ini", str(ini)],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{args.ref_port}/v1"
    argv = [
        str(venv / "bin" / "gunicorn"),
        "--paste",
        str(ini),
        "--bind",
        f"127.0.0.1:{args.ref_port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        *GUNICORN_OPTIONS,
    ]
    return Server("reference", argv, env, str(workdir), str(log_path), url)


# ----------------------------------------------------------------------------------------------
# Reporting


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> "-"


def single_table(label: str, results: list) -> str:
    head = (
        f"{'scenario':<8} {'what':<32} {'ok':>7} {'err':>5} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8}"
    )
    lines = [f"== {label} ==", head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.scenario:<8} {r.description:<32} {r.ops:>7} {r.errors:>5} {fmt(r.rps):>9} "
            f"{fmt(r.percentile(0.5), 2):>8} {fmt(r.percentile(0.99), 2):>8}"
            + ("  INVALID" if r.invalid else "")
        )
    return "\n".join(lines)


def ratio(a: float, b: float) -> str:
    return "-" if not b or a != a or b != b else f"{a / b:.2f}"


def side_by_side(ours: list, reference: list) -> str:
    by_name = {r.scenario: r for r in reference}
    head = (
        f"{'':<8} | {'ours':^33} | {'reference':^33} | {'ours/ref':^11}\n"
        f"{'scenario':<8} | {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'err':>6} | "
        f"{'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'err':>6} | {'rps':>5} {'p50':>5}"
    )
    width = max(len(line) for line in head.splitlines())
    lines = ["== ours vs reference ==", head, "-" * width]
    for o in ours:
        r = by_name.get(o.scenario)
        if r is None:
            continue
        flag = "  INVALID" if o.invalid or r.invalid else ""
        lines.append(
            f"{o.scenario:<8} | {fmt(o.rps):>8} {fmt(o.percentile(0.5), 2):>8} "
            f"{fmt(o.percentile(0.99), 2):>8} {o.errors:>6} | {fmt(r.rps):>8} "
            f"{fmt(r.percentile(0.5), 2):>8} {fmt(r.percentile(0.99), 2):>8} {r.errors:>6} | "
            f"{ratio(o.rps, r.rps):>5} {ratio(o.percentile(0.5), r.percentile(0.5)):>5}{flag}"
        )
    return "\n".join(lines)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def settings_text(args, notes: dict) -> str:
    plan = f"{args.requests} requests" if args.requests else f"{args.duration:g} s"
    lines = [
        "== settings ==",
        f"date             {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine          {platform.node()} {os.cpu_count()} cores, {platform.python_version()}",
        f"our commit       {git_commit()}",
        f"started servers  --workers {args.workers} --threads {args.threads} --keep-alive 5:"
        " ours uvicorn workers (bin/serve), the reference gthread; PostgreSQL"
        + (f", ours with Redis {args.redis_url}" if args.redis_url else ""),
        f"clients          {args.clients} {args.client_mode}es, one keep-alive connection each",
        f"per scenario     {plan} (after 1 untimed warm-up request per client)",
        f"records seeded   {args.records} (POST /batch of {BATCH_SIZE})",
        f"scenarios        {', '.join(args.scenarios)}",
    ]
    lines += [f"{key:<16} {value}" for key, value in notes.items()]
    return "\n".join(lines)


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# ----------------------------------------------------------------------------------------------
# Main


def bench_one(label, url, args, notes) -> list:
    run_id = uuid.uuid4().hex[:8]
    target = Target(label, url.rstrip("/"), bucket=f"bench-{run_id}", collection="items")
    if not port_answers(target.url):
        raise BenchError(f"{target.url}/ does not answer 200")
    notes[f"{label} load avg"] = loadavg() + " (1/5/15 min, before seeding)"
    log(f"[{label}] seeding {args.records} records into {target.collection_path}")
    seconds = seed(target, args.records, args.seed_parallel)
    notes[f"{label} seeding"] = (
        f"{args.records} records in {seconds:.1f} s ({args.records / seconds:.0f} records/s)"
    )
    lost = target.seed_acknowledged - len(target.ids)
    if target.seed_conflicts or lost:
        notes[f"{label} seeding"] += (
            f"; {target.seed_conflicts} sub-requests got 409 and were posted again"
            f"; {lost} answered 201 but are not listed"
        )
    log(f"[{label}] {notes[f'{label} seeding']}")
    prepare_reads(target)
    try:
        return run_scenarios(target, args)
    finally:
        if args.cleanup_bucket:
            client = Client(target.url, timeout=600)
            status, _, _ = client.request("DELETE", f"/buckets/{target.bucket}")
            client.close()
            log(f"[{label}] deleted bucket {target.bucket}: HTTP {status}")


def run_managed(label, factory, args, workdir, notes, servers) -> list:
    server = factory(args, workdir)
    servers.append(server)
    server.start()
    try:
        return bench_one(label, server.url, args, notes)
    finally:
        server.stop()
        if not args.keep_db:
            db = args.db_url if label == "ours" else args.ref_db_url
            recreate_database(db, drop_only=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark the server (and optionally the reference Kinto) over HTTP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--url", help="benchmark this running server instead (…/v1)")
    parser.add_argument("--reference", action="store_true", help="also run reference Kinto")
    parser.add_argument("--ref-url", help="use this running reference instead of starting one")
    parser.add_argument("--ref-first", action="store_true", help="measure the reference first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--redis-url",
        default="",
        help="KINTO_REDIS_URL of our server (live events cross its workers through Redis)",
    )
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--client-mode", choices=["process", "thread"], default="process")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--requests", type=int, help="operations per scenario (not --duration)")
    parser.add_argument("--records", type=int, default=10000, help="records to seed")
    parser.add_argument("--seed-parallel", type=int, default=4, help="concurrent seed batches")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIO_NAMES), help="comma-separated subset"
    )
    parser.add_argument("--port", type=int, default=9150, help="port of our server")
    parser.add_argument("--ref-port", type=int, default=9151, help="port of the reference")
    parser.add_argument("--db-url", default="postgresql://postgres@127.0.0.1:5432/kinto_bench")
    parser.add_argument(
        "--ref-db-url", default="postgresql://postgres@127.0.0.1:5432/kinto_bench_ref"
    )
    parser.add_argument(
        "--ref-venv", default=str(REPO / "var" / "bench-ref-venv"), help="reference virtualenv"
    )
    parser.add_argument("--workdir", default=str(REPO / "var" / "bench"), help="logs and INI")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the databases")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIO_NAMES)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIO_NAMES}")
    if args.records < BATCH_SIZE * 2:
        parser.error(f"--records must be at least {BATCH_SIZE * 2}")
    if args.requests is not None and args.requests < args.clients:
        parser.error("--requests must be at least --clients")
    if args.requests:
        args.duration = 0
    if args.ref_url:
        args.reference = True
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    notes = {}
    servers: list[Server] = []
    results = {}

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    runs = []
    if args.url:
        args.cleanup_bucket = True
        notes["ours"] = f"{args.url} (already running; its settings are its own)"
        runs.append(("ours", lambda: bench_one("ours", args.url, args, notes)))
    else:
        args.cleanup_bucket = False
        notes["ours"] = f"bin/serve on 127.0.0.1:{args.port}, database {args.db_url}"
        runs.append(
            ("ours", lambda: run_managed("ours", our_server, args, workdir, notes, servers))
        )
    if args.reference:
        if args.ref_url:
            notes["reference"] = f"{args.ref_url} (already running; its settings are its own)"
            runs.append(("reference", lambda: bench_one("reference", args.ref_url, args, notes)))
        else:
            notes["reference"] = (
                f"kinto {REFERENCE_VERSION} under gunicorn on 127.0.0.1:{args.ref_port}, "
                f"database {args.ref_db_url}, venv {args.ref_venv}"
            )
            runs.append(
                (
                    "reference",
                    lambda: run_managed(
                        "reference", reference_server, args, workdir, notes, servers
                    ),
                )
            )
        if args.ref_first:
            runs.reverse()
    try:
        for label, run in runs:
            results[label] = run()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except (BenchError, subprocess.CalledProcessError) as exc:
        log(f"error: {exc}")
        return 1
    finally:
        for server in servers:
            server.stop()
    notes["load avg at end"] = loadavg()
    print()
    print(settings_text(args, notes))
    for label, label_results in results.items():
        print()
        print(single_table(label, label_results))
    if "ours" in results and "reference" in results:
        print()
        print(side_by_side(results["ours"], results["reference"]))
    statuses = {
        label: {r.scenario: r.statuses for r in rs if r.errors} for label, rs in results.items()
    }
    if any(statuses.values()):
        print()
        print(f"status counts where errors occurred: {json.dumps(statuses)}")
    invalid = [(label, r.scenario, r.invalid) for label, rs in results.items() for r in rs]
    for label, scenario, reason in invalid:
        if reason:
            print(f"INVALID {label} {scenario}: {reason}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "settings": {k: v for k, v in vars(args).items()},
                    "notes": notes,
                    "results": {k: [r.summary() for r in v] for k, v in results.items()},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
