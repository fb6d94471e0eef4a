"""Many client processes against several server worker processes sharing one PostgreSQL.

- Writers create, update and delete records of one collection (with preconditions, some in
  `/batch`) while pollers keep local copies with `_since=<last ETag>` and small pages. Once
  the writers stop, every poller's copy must equal the server's (tombstones included), every
  acknowledged write must be the final state of its record, and no timestamp may be given to
  two different versions.
- Batches writing records `a` then `z` race single writes of `z`: nobody deadlocks.
- Contenders send the same `If-Match` PATCH at once: exactly one wins, every other gets 412;
  the same `If-None-Match: *` PUT: exactly one 201, the others 412 (or, like the reference,
  409 errno 122 "please retry" when they lose the insert race itself).

PostgreSQL only: SQLite serialises every write of the whole database, there is nothing to race.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e import workload
from tests.e2e.server import is_postgresql

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgresql,
    pytest.mark.skipif(
        not is_postgresql(os.environ.get("KINTO_STORAGE_URL", "")),
        reason="concurrency tests need PostgreSQL (set KINTO_STORAGE_URL=postgresql://…)",
    ),
]

WRITERS = 4
IDS_PER_WRITER = 15
# Each writer stops after this many acknowledged writes, or after WRITE_SECONDS on a busy
# machine; at least MIN_WRITES in all are required for the run to mean something.
WRITES_PER_WRITER = 75
WRITE_SECONDS = 15
MIN_WRITES = 60
POLLERS = 3
POLL_LIMIT = 3
CONTENDERS = 10
ROUNDS = 15
MIXERS = 8
MIXED_ROUNDS = 10
JOIN_TIMEOUT = 60

# Fork: the children only run the functions of `workload` (plain HTTP, no Django).
context = multiprocessing.get_context("fork")


def worker_pids(server) -> list[int]:
    """The gunicorn workers: children of the master process."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def run_all(processes: list[Any]) -> None:
    for process in processes:
        process.start()


def join_all(processes: list[Any]) -> None:
    try:
        for process in processes:
            process.join(JOIN_TIMEOUT)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5)
    assert [p.exitcode for p in processes] == [0] * len(processes)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def fingerprint(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True)


@pytest.fixture
def collection_url(server) -> str:
    bucket = f"c-{uuid.uuid4().hex[:12]}"
    http = workload.session()
    assert http.put(f"{server.url}/buckets/{bucket}").status_code == 201
    url = f"{server.url}/buckets/{bucket}/collections/shared"
    assert http.put(url).status_code == 201
    return url


def server_state(records_url: str) -> tuple[dict[str, dict[str, Any]], int]:
    """Everything in the collection, tombstones included, and the list timestamp."""
    http = workload.session()
    response = http.get(records_url, params={"_since": "0", "_sort": "last_modified"})
    etag = workload.etag_value(response)
    state: dict[str, dict[str, Any]] = {}
    while True:
        assert response.status_code == 200, response.text
        for obj in response.json()["data"]:
            assert obj["id"] not in state, f"{obj['id']} listed twice"
            state[obj["id"]] = obj
        if "Next-Page" not in response.headers:
            return state, etag
        response = http.get(response.headers["Next-Page"])


def test_pollers_converge_on_what_writers_acknowledged(server, collection_url, tmp_path):
    assert len(worker_pids(server)) >= 2
    records_url = f"{collection_url}/records"
    batch_url = f"{server.url}/batch"
    stop = context.Event()
    sorts = [None, "last_modified", "-last_modified"]
    pollers = [
        context.Process(
            target=workload.poller,
            args=(records_url, POLL_LIMIT, sorts[i % 3], stop, str(tmp_path / f"poller{i}.json")),
        )
        for i in range(POLLERS)
    ]
    writers = [
        context.Process(
            target=workload.writer,
            args=(
                records_url,
                batch_url,
                i,
                IDS_PER_WRITER,
                WRITES_PER_WRITER,
                WRITE_SECONDS,
                str(tmp_path / f"writer{i}.json"),
            ),
        )
        for i in range(WRITERS)
    ]
    try:
        run_all(pollers)
        run_all(writers)
        join_all(writers)
    finally:
        stop.set()
        join_all(pollers)

    writes = [load(tmp_path / f"writer{i}.json") for i in range(WRITERS)]
    polls = [load(tmp_path / f"poller{i}.json") for i in range(POLLERS)]
    assert [w["errors"] for w in writes] == [[]] * WRITERS
    assert [p["errors"] for p in polls] == [[]] * POLLERS
    state, final_etag = server_state(records_url)

    # Every acknowledged write is the final state of its record, and nothing else is there.
    expected = {rid: obj for w in writes for rid, obj in w["state"].items()}
    assert state == expected
    acks = [ack for w in writes for ack in w["acks"]]
    assert final_etag == max(ack["object"]["last_modified"] for ack in acks)

    # Timestamps are never reused: one timestamp, one version of one record.
    versions: dict[int, str] = {}
    for ack in acks:
        obj = ack["object"]
        assert obj["last_modified"] not in versions, f"timestamp reused by {obj}"
        versions[obj["last_modified"]] = fingerprint(obj)
    seen = set()
    for poll in polls:
        for obj in poll["observed"]:
            assert versions.get(obj["last_modified"]) == fingerprint(obj), obj
            seen.add(obj["last_modified"])
        assert poll["etags"] == sorted(poll["etags"])
        # Every poller ends with exactly the server's collection, tombstones included.
        assert poll["local"] == state
        assert poll["etags"][-1] == final_etag

    counts = Counter(ack["method"] for ack in acks)
    print(
        f"\n{len(acks)} acknowledged writes ({dict(counts)}) by {WRITERS} writers "
        f"in {max(w['seconds'] for w in writes):.1f}s through {len(worker_pids(server))} server workers; "
        f"{sum(p['polls'] for p in polls)} polls ({sum(p['pages'] for p in polls)} pages, "
        f"{sum(p['not_modified'] for p in polls)} 304s) by {POLLERS} pollers; "
        f"{len(seen)} of {len(acks)} versions seen by some poller; "
        f"{sum(1 for o in state.values() if o.get('deleted'))} tombstones, "
        f"{sum(1 for o in state.values() if not o.get('deleted'))} live records at the end"
    )
    assert counts["PUT"] and counts["PATCH"] and counts["DELETE"]
    assert len(acks) >= MIN_WRITES


def test_only_one_of_simultaneous_conditional_writes_wins(server, collection_url, tmp_path):
    records_url = f"{collection_url}/records"
    http = workload.session()
    assert http.put(f"{records_url}/shared", json={"data": {"round": -1}}).status_code == 201
    barrier = context.Barrier(CONTENDERS)
    contenders = [
        context.Process(
            target=workload.contender,
            args=(records_url, i, ROUNDS, barrier, str(tmp_path / f"contender{i}.json")),
        )
        for i in range(CONTENDERS)
    ]
    run_all(contenders)
    join_all(contenders)
    outcomes = [load(tmp_path / f"contender{i}.json") for i in range(CONTENDERS)]
    assert [o["error"] for o in outcomes] == [None] * CONTENDERS

    patch_winners = []
    conflicts = 0
    for round_ in range(ROUNDS):
        results = [o["results"][round_] for o in outcomes]
        # Everyone read the same version before racing.
        assert len({r["read"] for r in results}) == 1
        patch_statuses = Counter(r["patch"] for r in results)
        assert patch_statuses == {200: 1, 412: CONTENDERS - 1}, (round_, patch_statuses)
        winner = next(i for i, r in enumerate(results) if r["patch"] == 200)
        patch_winners.append(results[winner]["patch_body"]["data"])
        assert results[winner]["patch_body"]["data"]["winner"] == winner
        for loser in (r for r in results if r["patch"] == 412):
            assert loser["patch_body"]["errno"] == 114
            existing = loser["patch_body"]["details"]["existing"]
            assert existing == results[winner]["patch_body"]["data"]

        # Creation: one 201; the others find the record (412) or, like the reference, lose
        # the insert race on the unique index and are told to retry (409 errno 122).
        create_statuses = Counter(r["create"] for r in results)
        assert create_statuses[201] == 1, (round_, create_statuses)
        assert create_statuses[412] + create_statuses[409] == CONTENDERS - 1, create_statuses
        creator = next(i for i, r in enumerate(results) if r["create"] == 201)
        assert results[creator]["create_body"]["data"]["creator"] == creator
        for loser in (r for r in results if r["create"] in (409, 412)):
            assert loser["create_body"]["errno"] == (122 if loser["create"] == 409 else 114)
        retried = http.put(
            f"{records_url}/new-{round_}", json={"data": {}}, headers={"If-None-Match": "*"}
        )
        assert retried.status_code == 412
        assert retried.json()["details"]["existing"] == results[creator]["create_body"]["data"]
        conflicts += create_statuses[409]

    # The record went through exactly one version per round, in order.
    stamps = [data["last_modified"] for data in patch_winners]
    assert stamps == sorted(stamps) and len(set(stamps)) == ROUNDS
    final = requests.get(f"{records_url}/shared", auth=workload.AUTH).json()["data"]
    assert final == patch_winners[-1]
    print(
        f"\n{ROUNDS} rounds of {CONTENDERS} simultaneous If-Match PATCHes (one 200, "
        f"{CONTENDERS - 1} 412s each) and If-None-Match: * PUTs (one 201 each; "
        f"{conflicts} of {ROUNDS * (CONTENDERS - 1)} losers got 409 errno 122, the rest 412)"
    )


def test_batches_and_single_writes_of_the_same_records_do_not_deadlock(
    server, collection_url, tmp_path
):
    records_url = f"{collection_url}/records"
    http = workload.session()
    for record_id in ("a", "z"):
        assert http.put(f"{records_url}/{record_id}", json={"data": {}}).status_code == 201
    barrier = context.Barrier(MIXERS)
    mixers = [
        context.Process(
            target=workload.mixer,
            args=(
                records_url,
                f"{server.url}/batch",
                i,
                MIXED_ROUNDS,
                barrier,
                str(tmp_path / f"mixer{i}.json"),
            ),
        )
        for i in range(MIXERS)
    ]
    run_all(mixers)
    join_all(mixers)
    outcomes = [load(tmp_path / f"mixer{i}.json") for i in range(MIXERS)]
    assert [o["error"] for o in outcomes] == [None] * MIXERS
    results = [result for outcome in outcomes for result in outcome["results"]]
    statuses = Counter(status for result in results for status in result["statuses"])
    # No 503 (a deadlock PostgreSQL broke), every write went through.
    assert set(statuses) == {200}, statuses
    stamps = [obj["last_modified"] for result in results for obj in result["objects"]]
    assert len(stamps) == len(set(stamps)) == MIXED_ROUNDS * MIXERS * 3 // 2
    final = {obj["id"]: obj for obj in server_state(records_url)[0].values()}
    # Every writer's last PATCH of `z` is in the final record: none was lost.
    assert {key: final["z"][key] for key in final["z"] if key.startswith("by")} == {
        f"by{i}": MIXED_ROUNDS - 1 for i in range(MIXERS)
    }
    print(f"\n{MIXED_ROUNDS} rounds of {MIXERS} simultaneous batches and single PATCHes: no 503")


def test_batches_writing_lists_in_opposite_orders_do_not_deadlock(server, tmp_path):
    bucket_url = f"{server.url}/buckets/x-{uuid.uuid4().hex[:12]}"
    http = workload.session()
    assert http.put(bucket_url).status_code == 201
    for cid in ("one", "two"):
        assert http.put(f"{bucket_url}/collections/{cid}").status_code == 201
    barrier = context.Barrier(MIXERS)
    crossers = [
        context.Process(
            target=workload.crosser,
            args=(
                bucket_url,
                f"{server.url}/batch",
                i,
                MIXED_ROUNDS,
                barrier,
                str(tmp_path / f"crosser{i}.json"),
            ),
        )
        for i in range(MIXERS)
    ]
    run_all(crossers)
    join_all(crossers)
    outcomes = [load(tmp_path / f"crosser{i}.json") for i in range(MIXERS)]
    assert [o["error"] for o in outcomes] == [None] * MIXERS
    statuses = Counter(s for o in outcomes for result in o["results"] for s in result["statuses"])
    # Every batch answered 200 with two 201s: none lost to a deadlock (503).
    assert statuses == Counter({200: MIXERS * MIXED_ROUNDS, 201: 2 * MIXERS * MIXED_ROUNDS})
    for cid in ("one", "two"):
        response = http.head(f"{bucket_url}/collections/{cid}/records")
        assert int(response.headers["Total-Objects"]) == MIXERS * MIXED_ROUNDS
