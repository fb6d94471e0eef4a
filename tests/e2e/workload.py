"""Client processes of the concurrency test: writers, pollers and contenders.

Each function is the body of one process (plain HTTP through `requests`, no kinto-http, no
Django). It writes what it saw to a JSON file that the test reads once every process ended.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import requests

AUTH = ("alice", "secret")
TIMEOUT = 30


def session() -> requests.Session:
    http = requests.Session()
    http.auth = AUTH
    return http


def dump(path: str, payload: Any) -> None:
    Path(path).write_text(json.dumps(payload))


def etag_value(response: requests.Response) -> int:
    return int(response.headers["ETag"].strip('"'))


# --- writers --------------------------------------------------------------------------------


class Writer:
    """Creates, updates and deletes its own records, always with preconditions.

    No one else writes these records, so every precondition must hold: any status other than
    the expected one is an error. Every acknowledged write is kept for the final checks.
    """

    def __init__(self, records_url: str, batch_url: str, index: int, ids: int) -> None:
        self.records_url = records_url
        self.batch_url = batch_url
        self.index = index
        self.ids = [f"w{index}-{n}" for n in range(ids)]
        self.state: dict[str, dict[str, Any]] = {}  # id -> last acknowledged object
        self.acks: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.sequence = 0
        self.http = session()

    def plan(self, record_id: str, rng: random.Random) -> tuple[str, dict, Any, int]:
        """The next write of one record: (method, headers, body, expected status)."""
        self.sequence += 1
        current = self.state.get(record_id)
        if current is None or current.get("deleted"):
            body = {"data": {"writer": self.index, "seq": self.sequence, "v": 0}}
            return "PUT", {"If-None-Match": "*"}, body, 201
        precondition = {"If-Match": f'"{current["last_modified"]}"'}
        if rng.random() < 0.75:
            body = {"data": {"seq": self.sequence, "v": current.get("v", 0) + 1}}
            return "PATCH", precondition, body, 200
        return "DELETE", precondition, None, 200

    def acknowledge(self, record_id: str, method: str, status: int, expected: int, body: Any):
        if status != expected:
            self.errors.append(f"{method} {record_id}: {status} instead of {expected}: {body}")
            return
        obj = body["data"]
        if obj.get("id") != record_id:
            self.errors.append(f"{method} {record_id}: answered with {obj}")
            return
        self.state[record_id] = obj
        self.acks.append({"method": method, "object": obj})

    def single(self, rng: random.Random) -> None:
        record_id = rng.choice(self.ids)
        method, headers, body, expected = self.plan(record_id, rng)
        response = self.http.request(
            method, f"{self.records_url}/{record_id}", json=body, headers=headers, timeout=TIMEOUT
        )
        payload = response.json()
        if response.status_code == expected and etag_value(response) != payload.get(
            "data", {}
        ).get("last_modified"):
            self.errors.append(f"{method} {record_id}: ETag {response.headers['ETag']}")
        self.acknowledge(record_id, method, response.status_code, expected, payload)

    def batch(self, rng: random.Random) -> None:
        chosen = rng.sample(self.ids, 3)
        plans = [self.plan(record_id, rng) for record_id in chosen]
        path = self.records_url.split("/v1", 1)[1]
        requests_ = []
        for record_id, (method, headers, body, _) in zip(chosen, plans, strict=True):
            request = {"method": method, "path": f"{path}/{record_id}", "headers": headers}
            if body is not None:
                request["body"] = body
            requests_.append(request)
        response = self.http.post(self.batch_url, json={"requests": requests_}, timeout=TIMEOUT)
        if response.status_code != 200:
            self.errors.append(f"batch: {response.status_code} {response.text[:300]}")
            return
        answers = response.json()["responses"]
        for record_id, (method, _, _, expected), answer in zip(
            chosen, plans, answers, strict=True
        ):
            self.acknowledge(record_id, method, answer["status"], expected, answer["body"])


def writer(
    records_url: str,
    batch_url: str,
    index: int,
    ids: int,
    operations: int,
    seconds: float,
    out: str,
) -> None:
    """Write until `operations` writes are acknowledged, or for at most `seconds`."""
    rng = random.Random(index)
    work = Writer(records_url, batch_url, index, ids)
    started = time.monotonic()
    deadline = started + seconds
    try:
        while len(work.acks) < operations and time.monotonic() < deadline and len(work.errors) < 5:
            if rng.random() < 0.1:
                work.batch(rng)
            else:
                work.single(rng)
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        work.errors.append(f"writer {index} crashed: {error!r}")
    elapsed = time.monotonic() - started
    dump(out, {"acks": work.acks, "state": work.state, "errors": work.errors, "seconds": elapsed})


# --- pollers --------------------------------------------------------------------------------


class Poller:
    """Keeps a local copy of the collection with `_since=<last ETag>`, page by page."""

    def __init__(self, records_url: str, limit: int, sort: str | None) -> None:
        self.records_url = records_url
        self.limit = limit
        self.sort = sort
        self.since = 0
        self.local: dict[str, dict[str, Any]] = {}
        self.observed: list[dict[str, Any]] = []
        self.etags: list[int] = []
        self.polls = 0
        self.pages = 0
        self.not_modified = 0
        self.errors: list[str] = []
        self.http = session()

    def sync(self) -> None:
        self.polls += 1
        params = {"_since": str(self.since), "_limit": str(self.limit)}
        if self.sort:
            params["_sort"] = self.sort
        response = self.http.get(
            self.records_url,
            params=params,
            headers={"If-None-Match": f'"{self.since}"'},
            timeout=TIMEOUT,
        )
        if response.status_code == 304:
            self.not_modified += 1
            if etag_value(response) != self.since:
                self.errors.append(f"304 with ETag {response.headers['ETag']} != {self.since}")
            return
        # The list timestamp of the first page bounds what this sync has fully seen.
        etag = etag_value(response)
        while True:
            self.pages += 1
            if response.status_code != 200:
                self.errors.append(f"poll: {response.status_code} {response.text[:300]}")
                return
            for obj in response.json()["data"]:
                self.observed.append(obj)
                known = self.local.get(obj["id"])
                if known is None or obj["last_modified"] > known["last_modified"]:
                    self.local[obj["id"]] = obj
            next_page = response.headers.get("Next-Page")
            if not next_page:
                break
            response = self.http.get(next_page, timeout=TIMEOUT)
        if etag < self.since:
            self.errors.append(f"list ETag went back from {self.since} to {etag}")
        self.etags.append(etag)
        self.since = etag


def poller(records_url: str, limit: int, sort: str | None, stop: Any, out: str) -> None:
    work = Poller(records_url, limit, sort)
    try:
        while not stop.is_set():
            work.sync()
            time.sleep(0.02)
        work.sync()  # the final sync, once every writer has finished
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        work.errors.append(f"poller crashed: {error!r}")
    dump(
        out,
        {
            "local": work.local,
            "observed": work.observed,
            "etags": work.etags,
            "polls": work.polls,
            "pages": work.pages,
            "not_modified": work.not_modified,
            "errors": work.errors,
        },
    )


# --- contenders -----------------------------------------------------------------------------


def contender(records_url: str, index: int, rounds: int, barrier: Any, out: str) -> None:
    """Each round: read the shared record, then, all at once, PATCH it with `If-Match` and
    try to create the round's new record with `If-None-Match: *`."""
    http = session()
    results: list[dict[str, Any]] = []
    error = None
    try:
        for round_ in range(rounds):
            current = http.get(f"{records_url}/shared", timeout=TIMEOUT).json()["data"]
            barrier.wait(timeout=TIMEOUT)
            patched = http.patch(
                f"{records_url}/shared",
                json={"data": {"round": round_, "winner": index}},
                headers={"If-Match": f'"{current["last_modified"]}"'},
                timeout=TIMEOUT,
            )
            barrier.wait(timeout=TIMEOUT)
            created = http.put(
                f"{records_url}/new-{round_}",
                json={"data": {"creator": index}},
                headers={"If-None-Match": "*"},
                timeout=TIMEOUT,
            )
            barrier.wait(timeout=TIMEOUT)
            results.append(
                {
                    "read": current["last_modified"],
                    "patch": patched.status_code,
                    "patch_body": patched.json(),
                    "create": created.status_code,
                    "create_body": created.json(),
                }
            )
    except Exception as crash:  # noqa: BLE001 - reported to the test, which fails on it
        error = repr(crash)
        barrier.abort()
    dump(out, {"results": results, "error": error})


def mixer(records_url: str, batch_url: str, index: int, rounds: int, barrier: Any, out: str):
    """Each round, at once with the others: even processes PATCH records `a` then `z` in one
    batch, odd ones PATCH `z` alone. Locks taken in different orders would deadlock."""
    http = session()
    path = records_url.split("/v1", 1)[1]
    results: list[dict[str, Any]] = []
    error = None
    try:
        for round_ in range(rounds):
            data = {"data": {f"by{index}": round_}}
            barrier.wait(timeout=TIMEOUT)
            if index % 2 == 0:
                batch = [
                    {"method": "PATCH", "path": f"{path}/{record_id}", "body": data}
                    for record_id in ("a", "z")
                ]
                response = http.post(batch_url, json={"requests": batch}, timeout=TIMEOUT)
                body = response.json()
                objects = [answer["body"].get("data") for answer in body.get("responses", [])] or [
                    body
                ]
                statuses = [response.status_code] + [
                    answer["status"] for answer in body.get("responses", [])
                ]
            else:
                response = http.patch(f"{records_url}/z", json=data, timeout=TIMEOUT)
                objects = [response.json().get("data", response.json())]
                statuses = [response.status_code]
            results.append({"statuses": statuses, "objects": objects})
    except Exception as crash:  # noqa: BLE001 - reported to the test, which fails on it
        error = repr(crash)
        barrier.abort()
    dump(out, {"results": results, "error": error})


def crosser(bucket_url: str, batch_url: str, index: int, rounds: int, barrier: Any, out: str):
    """Each round, at once with the others: a batch creating one record in each of two
    collections, even processes in the order (one, two), odd ones in (two, one)."""
    http = session()
    bucket_path = bucket_url.split("/v1", 1)[1]
    order = ("one", "two") if index % 2 == 0 else ("two", "one")
    results: list[dict[str, Any]] = []
    error = None
    try:
        for round_ in range(rounds):
            batch = [
                {
                    "method": "PUT",
                    "path": f"{bucket_path}/collections/{cid}/records/r{round_}-{index}",
                    "body": {"data": {"by": index}},
                }
                for cid in order
            ]
            barrier.wait(timeout=TIMEOUT)
            response = http.post(batch_url, json={"requests": batch}, timeout=TIMEOUT)
            body = response.json()
            statuses = [response.status_code] + [a["status"] for a in body.get("responses", [])]
            results.append({"statuses": statuses})
    except Exception as crash:  # noqa: BLE001 - reported to the test, which fails on it
        error = repr(crash)
        barrier.abort()
    dump(out, {"results": results, "error": error})
