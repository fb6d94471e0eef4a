"""Redis killed while live clients follow a list and durable listeners are configured.

What must hold: HTTP writes and reads go on (no error answer at all); a live client is told
(its connection closes with 1012, or subscribing answers an error) and, resuming with
`since` once Redis is back, receives every acknowledged change without a gap and without a
repeat; the Redis queue and the webhook receive every acknowledged change from the outbox,
in timestamp order per collection (at least once).
"""

from __future__ import annotations

import collections
import json
import time
import uuid

import pytest
import redis

from tests.faults.conftest import make_collections, root_url
from tests.faults.live import LiveFollower
from tests.faults.traffic import Traffic
from tests.notifications.receivers import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

OUTAGE_SECONDS = 5
QUEUE = "kinto_events"


def delivered(messages: list[dict]) -> dict[str, list[tuple[str, int]]]:
    """Per collection, the (record id, last_modified) of every record event, in order."""
    found: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
    for message in messages:
        payload = message["payload"]
        if payload["resource_name"] != "record":
            continue
        path = f"/v1/buckets/{payload['bucket_id']}/collections/{payload['collection_id']}"
        for impacted in message["impacted_objects"]:
            found[path].append((impacted["new"]["id"], impacted["new"]["last_modified"]))
    return found


def check_listener(name: str, messages: list[dict], acknowledged: dict) -> None:
    by_collection = delivered(messages)
    missing = [
        key
        for key, last_modified in acknowledged.items()
        if (key[1], last_modified) not in set(by_collection[key[0]])
    ]
    assert not missing, f"{name}: {len(missing)} acknowledged changes never delivered"
    for path, versions in by_collection.items():
        first_seen = list(dict.fromkeys(timestamp for _, timestamp in versions))
        assert first_seen == sorted(first_seen), f"{name}: {path} out of order"


def test_redis_killed_under_live_clients_and_listeners(cluster, redis_server, start_server):
    receiver = WebhookReceiver().start()
    queue = redis.Redis.from_url(redis_server.url(1))
    try:
        server = start_server(
            cluster.url(),
            workers=2,
            redis_url=redis_server.url(0),
            redis_prefix=f"faults-{uuid.uuid4().hex[:6]}",
            event_listeners="queue hook",
            event_listeners_queue_use="redis",
            event_listeners_queue_url=redis_server.url(1),
            event_listeners_queue_listname=QUEUE,
            event_listeners_hook_use="webhook",
            event_listeners_hook_url=receiver.url,
            event_listeners_hook_secret="faults-secret",
            event_listeners_hook_timeout_seconds="1",
            event_dispatcher_in_server="true",
            event_dispatcher_poll_seconds="0.2",
            event_dispatcher_retry_min_seconds="0.2",
            event_dispatcher_retry_max_seconds="1",
            event_dispatcher_lease_seconds="3",
        )
        collections_ = make_collections(server.url, 2)
        followed = collections_[0]
        # Two clients, so that both workers most likely hold one.
        followers = [
            LiveFollower(server.url, followed.removeprefix("/v1") + "/records") for _ in range(2)
        ]
        for follower in followers:
            follower.start()
            assert follower.subscribed.wait(10)

        with Traffic(root_url(server), collections_, writers=3, pollers=1, pause=0.01) as traffic:
            traffic.wait_for_acknowledged(50)
            redis_server.stop()
            outage_started = time.monotonic()
            # HTTP writes go on without Redis.
            traffic.wait_for_acknowledged(50, timeout=30)
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
            redis_server.start()
            outage = time.monotonic() - outage_started
            traffic.wait_for_acknowledged(50, timeout=30)
        report = traffic.verify()
        assert set(traffic.outcomes.statuses) <= {200, 201}, report

        acknowledged = traffic.acknowledged()
        followed_versions = {
            (rid, lm) for (path, rid), lm in acknowledged.items() if path == followed
        }
        caught_up = []
        for follower in followers:
            started = time.monotonic()
            try:
                follower.wait_for(followed_versions)
            except AssertionError:
                print(server.log_tail(300))
                raise
            caught_up.append(time.monotonic() - started)
            follower.stop()
            assert follower.crash is None, follower.crash
            # Told of the outage: closed with 1012 "service restart", or refused a subscription.
            assert 1012 in follower.close_codes or follower.subscribe_errors, follower.close_codes
            repeated = [v for v, n in collections.Counter(follower.changes).items() if n > 1]
            assert not repeated, f"changes received twice: {repeated[:5]}"

        # Durable listeners: everything, from the outbox, in order per collection.
        deadline = time.monotonic() + 30
        while True:
            messages = [json.loads(raw) for raw in queue.lrange(QUEUE, 0, -1)]
            hooks = [d.json for d in receiver.deliveries]
            try:
                check_listener("redis queue", messages, acknowledged)
                check_listener("webhook", hooks, acknowledged)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        print(f"\nRedis killed for {outage:.1f}s: {report}; live clients closed with "
              f"{[f.close_codes for f in followers]}, "
              f"{[len(f.subscribe_errors) for f in followers]} subscribe errors, caught up "
              f"{[round(s, 2) for s in caught_up]}s after the writes stopped; queue "
              f"{len(messages)} messages, webhook {len(hooks)}")  # fmt: skip
    finally:
        receiver.stop()
