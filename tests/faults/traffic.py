"""Clients that keep writing and polling while a test breaks the server under them.

Writers create records (alone, or in batches that tag every record with the batch's name),
and remember what was acknowledged; pollers keep a copy of each collection with `_since`,
and remember how often they saw each record version. `Traffic.verify()` then checks the
server's promises: every acknowledged write is there, every batch is all or nothing, every
poller saw every acknowledged version exactly once, and no answer was a 500.

The clients are threads of the test process speaking plain HTTP (`requests`): a fault shows
up to them as a status, a reset connection or a timeout, each counted.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

AUTH = ("alice", "secret")
# A request that takes longer than this counts as a hang.
REQUEST_TIMEOUT = 30


@dataclass
class Outcomes:
    """What the clients saw, by kind; shared by every client thread of one `Traffic`."""

    statuses: collections.Counter = field(default_factory=collections.Counter)
    connection_errors: int = 0
    timeouts: int = 0
    # 503s without `Retry-After`, or without the protocol's error body, with one example.
    bad_unavailable: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def response(self, response: requests.Response, what: str) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503:
                problem = unavailable_problem(response)
                if problem:
                    self.bad_unavailable.append(f"{what}: {problem}")
            elif response.status_code >= 500:
                self.unexpected.append(f"{what}: {response.status_code} {response.text[:200]}")

    def failure(self, error: requests.RequestException) -> None:
        with self.lock:
            if isinstance(error, requests.Timeout):
                self.timeouts += 1
            else:
                self.connection_errors += 1


def unavailable_problem(response: requests.Response) -> str | None:
    """What a 503 lacks of the protocol's answer (Retry-After, errno 201 body), or None."""
    if not response.headers.get("Retry-After", "").isdigit():
        return f"no Retry-After: {dict(response.headers)}"
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}"
    if body.get("code") != 503 or body.get("errno") != 201 or not body.get("message"):
        return f"body {body}"
    return None


def session() -> requests.Session:
    http = requests.Session()
    http.auth = AUTH
    return http


class Client(threading.Thread):
    """A client thread that runs `step()` until `stop()`."""

    def __init__(self, server_url: str, outcomes: Outcomes) -> None:
        super().__init__(daemon=True)
        self.server_url = server_url
        self.outcomes = outcomes
        self.http = session()
        self.stopping = threading.Event()
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.step()
        except BaseException as error:  # noqa: BLE001 - reported by verify()
            self.crash = error

    def step(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response | None:
        """The response, or None when the connection failed or timed out (counted)."""
        try:
            response = self.http.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
        except requests.RequestException as error:
            self.outcomes.failure(error)
            # A connection reset by a killed worker: start again on a new one.
            self.http.close()
            self.http = session()
            time.sleep(0.05)
            return None
        self.outcomes.response(response, f"{method} {url}")
        if response.status_code == 503:
            time.sleep(0.05)
        return response


class Writer(Client):
    """Creates records under new ids: one at a time, and in batches of `batch_size`."""

    def __init__(
        self,
        server_url: str,
        outcomes: Outcomes,
        name: str,
        collections_: list[str],
        batch_size: int,
        pause: float,
    ) -> None:
        super().__init__(server_url, outcomes)
        self.name = name
        self.collections = collections_
        self.batch_size = batch_size
        self.pause = pause
        self.counter = itertools.count()
        # (collection path, record id) -> last_modified acknowledged by the server.
        self.acknowledged: dict[tuple[str, str], int] = {}
        # batch name -> (collection path, size) of every batch sent, answered or not.
        self.batches: dict[str, tuple[str, int]] = {}
        self.acknowledged_batches = 0
        # Requests cut by a lost connection (their outcome unknown to the client).
        self.interrupted_batches = 0
        self.interrupted_writes = 0

    def step(self) -> None:
        n = next(self.counter)
        collection = self.collections[n % len(self.collections)]
        if n % 3 == 2:
            self.batch(collection, f"{self.name}-b{n}")
        else:
            self.single(collection, f"{self.name}-{n}")
        if self.pause:
            time.sleep(self.pause)

    def single(self, collection: str, record_id: str) -> None:
        response = self.request(
            "PUT",
            f"{self.server_url}{collection}/records/{record_id}",
            json={"data": {"writer": self.name}},
            headers={"If-None-Match": "*"},
        )
        if response is None:
            self.interrupted_writes += 1
        elif response.status_code == 201:
            self.acknowledged[(collection, record_id)] = response.json()["data"]["last_modified"]

    def batch(self, collection: str, tag: str) -> None:
        path = collection.removeprefix("/v1")
        records = [f"{tag}-{i}" for i in range(self.batch_size)]
        self.batches[tag] = (collection, self.batch_size)
        body = {
            "defaults": {"method": "PUT", "headers": {"If-None-Match": "*"}},
            "requests": [
                {"path": f"{path}/records/{rid}", "body": {"data": {"batch": tag}}}
                for rid in records
            ],
        }
        response = self.request("POST", f"{self.server_url}/batch", json=body)
        if response is None:
            self.interrupted_batches += 1
        if response is None or response.status_code != 200:
            return
        answers = response.json()["responses"]
        if all(answer["status"] == 201 for answer in answers):
            self.acknowledged_batches += 1
            for rid, answer in zip(records, answers, strict=True):
                self.acknowledged[(collection, rid)] = answer["body"]["data"]["last_modified"]


class Poller(Client):
    """Keeps a copy of each collection with `_since`, counting each version it receives.

    Pages are read oldest first (`_sort=last_modified`), so the last page's `ETag` covers
    everything the sync received, including changes committed while it turned pages: the
    next sync starts there, and no version may come twice.

    A sync that fails half way (a page answered 503, a reset connection) is dropped and
    started again from the same point: only complete syncs count, as a client would apply
    them.
    """

    def __init__(
        self, server_url: str, outcomes: Outcomes, collections_: list[str], limit: int = 20
    ) -> None:
        super().__init__(server_url, outcomes)
        self.collections = collections_
        self.limit = limit
        self.since = dict.fromkeys(collections_, 0)
        # (collection, record id, last_modified) -> times received.
        self.seen: collections.Counter = collections.Counter()
        self.etag_errors: list[str] = []

    def step(self) -> None:
        for collection in self.collections:
            self.sync(collection)
        time.sleep(0.02)

    def sync(self, collection: str) -> bool:
        since = self.since[collection]
        response = self.request(
            "GET",
            f"{self.server_url}{collection}/records",
            params={"_since": str(since), "_limit": str(self.limit), "_sort": "last_modified"},
        )
        if response is None or response.status_code != 200:
            return False
        received: list[tuple[str, str, int]] = []
        while True:
            # Each page comes with the list's timestamp of its own snapshot.
            etag = int(response.headers["ETag"].strip('"'))
            for obj in response.json()["data"]:
                if obj["last_modified"] > etag:
                    self.etag_errors.append(f"{collection}: {obj} newer than ETag {etag}")
                received.append((collection, obj["id"], obj["last_modified"]))
            next_page = response.headers.get("Next-Page")
            if not next_page:
                break
            response = self.request("GET", next_page)
            if response is None or response.status_code != 200:
                return False
        self.seen.update(received)
        self.since[collection] = max(since, etag)
        return True


class Traffic:
    """Writers and pollers on `collections` of one server, started and stopped together."""

    def __init__(
        self,
        server_url: str,
        collections_: list[str],
        writers: int = 4,
        pollers: int = 2,
        batch_size: int = 10,
        pause: float = 0.0,
    ) -> None:
        self.server_url = server_url
        self.collections = collections_
        self.outcomes = Outcomes()
        self.writers = [
            Writer(server_url, self.outcomes, f"w{i}", collections_, batch_size, pause)
            for i in range(writers)
        ]
        self.pollers = [Poller(server_url, self.outcomes, collections_) for _ in range(pollers)]

    @property
    def clients(self) -> list[Client]:
        return [*self.writers, *self.pollers]

    def __enter__(self) -> Traffic:
        for client in self.clients:
            client.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        for client in self.clients:
            client.stop()
        for client in self.clients:
            client.join(timeout=REQUEST_TIMEOUT * 2)

    def acknowledged(self) -> dict[tuple[str, str], int]:
        merged: dict[tuple[str, str], int] = {}
        for writer in self.writers:
            merged.update(writer.acknowledged)
        return merged

    def wait_for_acknowledged(self, count: int, timeout: float = 60) -> None:
        """Let the clients run until `count` more writes are acknowledged."""
        target = len(self.acknowledged()) + count
        deadline = time.monotonic() + timeout
        while len(self.acknowledged()) < target:
            assert time.monotonic() < deadline, (
                f"{len(self.acknowledged())} writes acknowledged, expected {target}: "
                f"{self.summary()}"
            )
            time.sleep(0.05)

    def summary(self) -> dict[str, Any]:
        return {
            "acknowledged writes": len(self.acknowledged()),
            "acknowledged batches": sum(w.acknowledged_batches for w in self.writers),
            "statuses": dict(self.outcomes.statuses),
            "connection errors": self.outcomes.connection_errors,
            "timeouts": self.outcomes.timeouts,
        }

    def stored(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every record of the collections, read once the server answers again."""
        http = session()
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for collection in self.collections:
            url: str | None = f"{self.server_url}{collection}/records?_limit=1000"
            while url:
                response = retry_until_ok(http, url)
                for obj in response.json()["data"]:
                    found[(collection, obj["id"])] = obj
                url = response.headers.get("Next-Page")
        return found

    def verify(self) -> dict[str, Any]:
        """Check the promises once the clients stopped; what was seen, for the report."""
        self.stop()
        crashed = [repr(c.crash) for c in self.clients if c.crash is not None]
        assert not crashed, crashed
        assert not self.outcomes.unexpected, self.outcomes.unexpected[:5]
        assert not self.outcomes.bad_unavailable, self.outcomes.bad_unavailable[:5]
        assert self.outcomes.timeouts == 0, f"{self.outcomes.timeouts} requests hung"

        stored = self.stored()
        acknowledged = self.acknowledged()
        lost = {
            key: last_modified
            for key, last_modified in acknowledged.items()
            if stored.get(key, {}).get("last_modified") != last_modified
        }
        assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {list(lost.items())[:5]}"

        # A batch is all or nothing, whether or not its answer reached the client.
        by_batch = collections.Counter(
            (collection, obj["batch"]) for (collection, _), obj in stored.items() if "batch" in obj
        )
        partial = []
        for writer in self.writers:
            for tag, (collection, size) in writer.batches.items():
                if by_batch.get((collection, tag), 0) not in (0, size):
                    partial.append((tag, by_batch[(collection, tag)], size))
        assert not partial, f"partial batches (name, stored, size): {partial}"

        # Every poller, brought up to date, saw each acknowledged version exactly once.
        for poller in self.pollers:
            for collection in self.collections:
                deadline = time.monotonic() + REQUEST_TIMEOUT
                while not poller.sync(collection):
                    assert time.monotonic() < deadline, "the final sync keeps failing"
                    time.sleep(0.2)
            assert not poller.etag_errors, poller.etag_errors[:5]
            twice = [version for version, times in poller.seen.items() if times > 1]
            assert not twice, f"versions received more than once: {twice[:5]}"
            missed = [
                key
                for key, last_modified in acknowledged.items()
                if poller.seen[(*key, last_modified)] != 1
            ]
            assert not missed, f"acknowledged versions never received: {missed[:5]}"
        return {**self.summary(), "stored records": len(stored), "lost": len(lost)}


def retry_until_ok(
    http: requests.Session, url: str, timeout: float = REQUEST_TIMEOUT
) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = http.get(url, timeout=REQUEST_TIMEOUT)
            if response.status_code == 200:
                return response
            problem = f"{response.status_code} {response.text[:200]}"
        except requests.RequestException as error:
            problem = repr(error)
        assert time.monotonic() < deadline, f"{url} kept failing: {problem}"
        time.sleep(0.2)
