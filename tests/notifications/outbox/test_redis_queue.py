"""The Redis queue listener against the real server on 127.0.0.1:6379: one JSON message per
merged event pushed onto a list, oldest at the head, and nothing lost while Redis is away."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from kinto_django import jsonutil
from kinto_django.notifications.outbox.dispatcher import Dispatcher
from kinto_django.notifications.outbox.models import OutboxEntry
from tests import factories
from tests.notifications.receivers import TcpProxy

REDIS = ("127.0.0.1", 6379)
RECORDS = factories.RECORDS


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(db):
    from django.test import Client

    from tests.conftest import Api

    return Api(Client(), user="alice")


@pytest.fixture
def server():
    client = redis.Redis(*REDIS)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    return client


@pytest.fixture
def listname(server):
    """A list of this test's own, deleted afterwards."""
    name = f"kinto-test-{uuid.uuid4().hex}"
    yield name
    server.delete(name)


@pytest.fixture
def queue(kinto_settings, listname):
    def configure(url: str = "redis://127.0.0.1:6379/0", **options):
        kinto_settings(
            event_listeners="queue",
            event_listeners_queue_use="redis",
            event_listeners_queue_url=url,
            event_listeners_queue_listname=listname,
            event_listeners_queue_timeout_seconds=2,
            **{f"event_listeners_queue_{key}": value for key, value in options.items()},
        )

    configure()
    return configure


def messages(server, listname):
    return [jsonutil.loads(item) for item in server.lrange(listname, 0, -1)]


def test_events_are_pushed_in_order(api, queue, server, listname):
    collection = factories.collection(api)
    record = factories.record(api, {"n": 1}, record_id="r1")
    assert api.delete(f"{RECORDS}/r1").status == 200
    assert Dispatcher().drain() == 4
    bucket_created, collection_created, created, deleted = messages(server, listname)
    assert bucket_created["payload"]["resource_name"] == "bucket"
    assert collection_created["impacted_objects"] == [{"new": collection["data"]}]
    assert created["payload"]["uri"] == f"{RECORDS}/r1"
    assert created["impacted_objects"] == [{"new": record}]
    assert deleted["payload"]["action"] == "delete"
    assert deleted["impacted_objects"][0]["old"] == record
    assert deleted["impacted_objects"][0]["new"]["deleted"] is True
    assert len({m["id"] for m in messages(server, listname)}) == 4
    # A consumer takes the oldest first.
    assert jsonutil.loads(server.blpop([listname], timeout=1)[1]) == bucket_created


def test_the_project_redis_url_is_the_default(api, queue, kinto_settings, server, listname):
    queue(url="")
    kinto_settings(redis_url="redis://127.0.0.1:6379/0")
    factories.bucket(api)
    assert Dispatcher().drain() == 1
    assert len(messages(server, listname)) == 1


def test_a_value_that_is_not_a_list_is_retried(api, queue, server, listname):
    server.set(listname, "not a list")
    factories.bucket(api)
    assert Dispatcher().drain() == 0
    (entry,) = OutboxEntry.objects.pending()
    assert "WRONGTYPE" in entry.last_error
    assert entry.attempts == 1


def test_a_redis_outage_loses_nothing(api, queue, server, listname):
    proxy = TcpProxy(REDIS).start()
    clock = Clock()
    try:
        queue(url=f"redis://127.0.0.1:{proxy.port}/0", resources="record")
        dispatcher = Dispatcher(clock=clock)
        factories.collection(api)
        factories.record(api, record_id="r1")
        assert dispatcher.drain() == 1
        proxy.stop()  # Redis goes away, with the dispatcher's open connection
        factories.record(api, record_id="r2")
        factories.record(api, record_id="r3")
        assert dispatcher.drain() == 0
        entry = OutboxEntry.objects.pending().order_by("id").first()
        assert "Redis unreachable" in entry.last_error
        clock.now += 1
        assert dispatcher.drain() == 0
        proxy.start()
        clock.now += 2
        assert dispatcher.drain() == 2
    finally:
        proxy.stop()
    ids = [m["impacted_objects"][0]["new"]["id"] for m in messages(server, listname)]
    assert ids == ["r1", "r2", "r3"]
