"""The outbox of the durable listeners: entries written with the change, in its transaction,
only for the listeners that want it, merged into the same events as `resource_changed`."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kinto_django import errors
from kinto_django.core.signals import resource_changed, resource_written
from kinto_django.notifications.outbox.dispatcher import Dispatcher
from kinto_django.notifications.outbox.entries import backlog
from kinto_django.notifications.outbox.models import OutboxEntry
from kinto_django.notifications.outbox.sinks import configuration
from tests import factories

RECORDS = factories.RECORDS
SECRET = "hook-secret"


@pytest.fixture
def api(db):
    """In the test's transaction: the entries a request wrote are visible, uncommitted."""
    from django.test import Client

    from tests.conftest import Api

    return Api(Client(), user="alice")


@pytest.fixture
def webhook(kinto_settings, receiver):
    """One webhook listener, `hook`, posting to the local receiver."""

    def configure(**options):
        values = {"use": "webhook", "url": receiver.url, "secret": SECRET, **options}
        kinto_settings(
            event_listeners="hook",
            **{f"event_listeners_hook_{key}": value for key, value in values.items()},
        )

    configure()
    return configure


@pytest.fixture
def received():
    """The merged events sent as `resource_changed` (after commit)."""
    events = []

    def receiver(sender, payload, impacted_objects, **kwargs):
        events.append({"payload": payload, "impacted_objects": impacted_objects})

    resource_changed.connect(receiver)
    yield events
    resource_changed.disconnect(receiver)


@pytest.fixture
def failing_writes():
    """Writes of records named `boom` fail with a 500, of `bad` with a 400, after the change
    (and its outbox entry) was written inside the transaction."""

    def fail(sender, objects, **kwargs):
        for obj in objects:
            if obj.object_id == "boom":
                raise RuntimeError("boom")
            if obj.object_id == "bad":
                raise errors.invalid("body", "data", "refused")

    resource_written.connect(fail)
    yield
    resource_written.disconnect(fail)


def entries(**filters):
    return list(OutboxEntry.objects.filter(**filters).order_by("id"))


def test_nothing_is_written_without_durable_listeners(api):
    factories.collection(api)
    factories.record(api, {"a": 1})
    assert not OutboxEntry.objects.exists()


def test_a_write_costs_one_insert_for_all_listeners(api, kinto_settings, receiver):
    factories.collection(api)
    # The process's caches (content types, permission ids) are filled by a first write: the
    # comparison holds whichever tests ran before.
    factories.record(api, {"a": 0}, record_id="r0")
    with CaptureQueriesContext(connection) as without:
        factories.record(api, {"a": 1}, record_id="r1")
    kinto_settings(
        event_listeners="one two",
        event_listeners_one_use="webhook",
        event_listeners_one_url=receiver.url,
        event_listeners_one_secret=SECRET,
        event_listeners_two_use="redis",
        event_listeners_two_url="redis://127.0.0.1:6379/0",
    )
    with CaptureQueriesContext(connection) as listened:
        factories.record(api, {"a": 1}, record_id="r2")
    assert len(listened) == len(without) + 1
    assert [entry.listener for entry in entries()] == ["one", "two"]


def test_an_entry_describes_the_write(api, webhook):
    factories.collection(api)
    record = factories.record(api, {"item": "lamp"}, record_id="r1")
    updated = api.patch(f"{RECORDS}/r1", {"data": {"qty": 2}}).data
    create, update = entries(payload__resource_name="record")
    assert create.listener == "hook"
    assert create.scope == "/buckets/shop/collections/orders"
    assert create.payload == {
        "action": "create",
        "resource_name": "record",
        "uri": f"{RECORDS}/r1",
        "user_id": create.payload["user_id"],
        "timestamp": record["last_modified"],
        "bucket_id": "shop",
        "collection_id": "orders",
        "record_id": "r1",
    }
    assert create.payload["user_id"].startswith("basicauth:")
    assert create.impacted == [{"new": record}]
    assert update.payload["action"] == "update"
    assert update.impacted == [{"new": updated, "old": record}]
    assert create.event_id != update.event_id
    assert (create.delivered_at, create.attempts, create.next_attempt_at) == (None, 0, None)


def test_scopes_are_the_parents(api, webhook):
    factories.collection(api)
    factories.group(api)
    factories.record(api, record_id="r1")
    assert [(e.payload["resource_name"], e.scope) for e in entries()] == [
        ("bucket", ""),
        ("collection", "/buckets/shop"),
        ("group", "/buckets/shop"),
        ("record", "/buckets/shop/collections/orders"),
    ]


def test_actions_and_resources_filter_the_entries(api, webhook):
    webhook(actions="delete", resources="record collection")
    factories.collection(api)
    factories.record(api, record_id="r1")
    factories.record(api, record_id="r2")
    assert api.delete(f"{RECORDS}/r1").status == 200
    assert api.delete(RECORDS).status == 200
    assert api.delete("/buckets/shop/collections/orders").status == 200
    assert api.delete("/buckets/shop").status == 200
    assert [
        (e.payload["resource_name"], e.payload["action"], e.payload["uri"]) for e in entries()
    ] == [
        ("record", "delete", f"{RECORDS}/r1"),
        ("record", "delete", RECORDS),
        ("collection", "delete", "/buckets/shop/collections/orders"),
    ]
    (list_delete,) = entries(payload__uri=RECORDS)
    assert [item["old"]["id"] for item in list_delete.impacted] == ["r2"]
    assert list_delete.impacted[0]["new"]["deleted"] is True


def test_no_entry_for_a_rolled_back_write(api, webhook, failing_writes):
    factories.collection(api)
    OutboxEntry.objects.all().delete()
    assert api.put(f"{RECORDS}/boom", {"data": {}}).status == 500
    assert api.put(f"{RECORDS}/bad", {"data": {}}).status == 400
    assert entries() == []


def test_no_entry_for_a_failed_implicit_creation(api, webhook, kinto_settings, failing_writes):
    kinto_settings(default_bucket_enabled=True)
    response = api.put("/buckets/default/collections/tasks/records/bad", {"data": {}})
    assert response.status == 400
    assert entries() == []
    assert api.put("/buckets/default/collections/tasks/records/good", {"data": {}}).status == 201
    assert [e.payload["resource_name"] for e in entries()] == ["bucket", "collection", "record"]


def test_failed_sub_requests_leave_no_entry(api, webhook, failing_writes):
    factories.collection(api)
    OutboxEntry.objects.all().delete()
    batch = {
        "defaults": {"method": "PUT", "body": {"data": {}}},
        "requests": [
            {"path": f"{RECORDS}/bad"},
            {"path": f"{RECORDS}/a"},
            {"path": f"{RECORDS}/bad"},
            {"path": f"{RECORDS}/b"},
        ],
    }
    response = api.post("/batch", batch)
    assert [r["status"] for r in response.json["responses"]] == [400, 201, 400, 201]
    assert [e.impacted[0]["new"]["id"] for e in entries()] == ["a", "b"]
    assert len({e.event_id for e in entries()}) == 1


def test_a_batch_is_delivered_merged_like_its_events(
    api, webhook, receiver, received, failing_writes, django_capture_on_commit_callbacks
):
    factories.collection(api)
    factories.collection(api, collection_id="other", create_bucket=False)
    OutboxEntry.objects.all().delete()
    other = "/buckets/shop/collections/other/records"
    batch = {
        "defaults": {"method": "PUT", "body": {"data": {}}},
        "requests": [
            {"path": f"{RECORDS}/a"},
            {"path": f"{other}/x"},
            {"path": f"{RECORDS}/bad"},
            {"path": f"{RECORDS}/a", "method": "PATCH", "body": {"data": {"n": 1}}},
            {"path": f"{RECORDS}/b"},
            {"path": other, "method": "POST", "body": {"data": {"id": "y"}}},
            {"path": RECORDS, "method": "DELETE"},
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/batch", batch)
    assert [r["status"] for r in response.json["responses"]] == [201, 201, 400, 200, 201, 201, 200]
    assert len(entries()) == 6
    Dispatcher().drain()
    messages = [delivery.json for delivery in receiver.deliveries]
    # Per scope, in first-occurrence order; the same merged events as `resource_changed`.
    by_scope = {}
    for event in received:
        by_scope.setdefault(event["payload"].get("collection_id"), []).append(event)
    delivered = {}
    for item in messages:
        delivered.setdefault(item["payload"].get("collection_id"), []).append(
            {"payload": item["payload"], "impacted_objects": item["impacted_objects"]}
        )
    assert delivered == by_scope
    create, update, delete = delivered["orders"]
    assert [i["new"]["id"] for i in create["impacted_objects"]] == ["a", "b"]
    assert create["payload"]["record_id"] == "a"
    assert len({item["id"] for item in messages}) == len(messages) == 4


def test_separate_requests_make_separate_events(api, webhook):
    factories.collection(api)
    factories.record(api, record_id="a")
    factories.record(api, record_id="b")
    first, second = entries(payload__resource_name="record")
    assert first.event_id != second.event_id


def test_every_listener_gets_its_own_entries(api, kinto_settings, receiver):
    kinto_settings(
        event_listeners="everything records-only",
        event_listeners_everything_use="webhook",
        event_listeners_everything_url=receiver.url,
        event_listeners_everything_secret=SECRET,
        event_listeners_records_only_use="redis",
        event_listeners_records_only_url="redis://127.0.0.1:6379/0",
        event_listeners_records_only_resources="record",
    )
    factories.collection(api)
    factories.record(api, record_id="a")
    assert [(e.listener, e.payload["resource_name"]) for e in entries()] == [
        ("everything", "bucket"),
        ("everything", "collection"),
        ("everything", "record"),
        ("records-only", "record"),
    ]
    assert backlog() == {"everything": 3, "records-only": 1}


def test_backlog_counts_undelivered_events(api, webhook):
    assert backlog() == {}
    factories.collection(api)
    batch = {
        "defaults": {"method": "PUT", "body": {"data": {}}},
        "requests": [{"path": f"{RECORDS}/a"}, {"path": f"{RECORDS}/b"}],
    }
    api.post("/batch", batch)
    assert backlog() == {"hook": 3}  # bucket, collection, one merged record creation
    Dispatcher().drain()
    assert backlog() == {}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "`use` is '', expected redis or webhook"),
        ({"use": "kinto.core.listeners.statsd"}, "`use` is 'kinto.core.listeners.statsd'"),
        ({"use": "webhook", "secret": "s"}, "`url` must be an http:// or https:// URL"),
        ({"use": "webhook", "url": "ftp://x/", "secret": "s"}, "`url` must be an http://"),
        ({"use": "webhook", "url": "http://[::1", "secret": "s"}, "`url` must be an http://"),
        ({"use": "redis", "url": "redis://[::1"}, "must be a redis://"),
        ({"use": "redis", "url": "redis://r", "timeout_seconds": "inf"}, "must be positive"),
        ({"use": "webhook", "url": "http://x/"}, "`secret` is required"),
        ({"use": "redis"}, "`url` (or `redis_url`) must be a redis://"),
        ({"use": "redis", "url": "redis://r", "actions": "read"}, "unsupported actions read"),
        ({"use": "redis", "url": "redis://r", "timeout_seconds": "0"}, "must be positive"),
        ({"use": "redis", "url": "redis://r", "timeout_seconds": "x"}, "must be a number"),
    ],
)
def test_invalid_listeners_are_reported_and_skipped(kinto_settings, options, problem):
    kinto_settings(
        event_listeners="bad",
        **{f"event_listeners_bad_{key}": value for key, value in options.items()},
    )
    errors_found = [m for m in run_checks() if m.id == "kinto_notifications.E001"]
    assert len(errors_found) == 1
    assert problem in errors_found[0].msg
    assert configuration().sinks == []


def test_valid_listeners_pass_the_checks(kinto_settings):
    kinto_settings(
        event_listeners="queue hook",
        redis_url="redis://127.0.0.1:6379/1",
        event_listeners_queue_use="kinto_redis.listeners",
        event_listeners_hook_use="webhook",
        event_listeners_hook_url="https://example.com/kinto",
        event_listeners_hook_secret="s",
        event_listeners_hook_actions="create, delete",
        event_listeners_hook_timeout_seconds="2.5",
    )
    assert [m for m in run_checks() if m.id.startswith("kinto_notifications")] == []
    queue, hook = configuration().sinks
    assert (queue.kind, queue.url, queue.listname) == (
        "redis",
        "redis://127.0.0.1:6379/1",
        "kinto_events",
    )
    assert (hook.kind, hook.actions, hook.timeout) == ("webhook", ("create", "delete"), 2.5)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"event_dispatcher_poll_seconds": "0"}, "event_dispatcher_poll_seconds must be positive"),
        ({"event_dispatcher_lease_seconds": "x"}, "must be a number of seconds"),
        ({"event_outbox_retention_seconds": "-1"}, "may not be negative"),
        (
            {
                "event_dispatcher_retry_min_seconds": "10",
                "event_dispatcher_retry_max_seconds": "5",
            },
            "retry_max_seconds must be at least",
        ),
    ],
)
def test_invalid_dispatcher_settings_are_reported(kinto_settings, values, message):
    kinto_settings(**values)
    problems = [m.msg for m in run_checks() if m.id == "kinto_notifications.E002"]
    assert len(problems) == 1 and message in problems[0]


def test_listeners_read_from_an_ini_file_and_the_environment(tmp_path, kinto_settings):
    """Reference INI files keep working; environment variables spell the dots as underscores."""
    from kinto_project import config

    ini = tmp_path / "kinto.ini"
    ini.write_text(
        "[app:main]\n"
        "kinto.event_listeners = queue hook\n"
        "kinto.event_listeners.queue.use = kinto_redis.listeners\n"
        "kinto.event_listeners.queue.url = redis://127.0.0.1:6379/2\n"
        "kinto.event_listeners.queue.listname = events\n"
        "kinto.event_listeners.queue.resources = record\n"
        "kinto.event_listeners.hook.use = webhook\n"
        "kinto.event_listeners.hook.url = https://example.com/from-ini\n"
    )
    values = config.load(
        {
            "KINTO_INI": str(ini),
            "KINTO_EVENT_LISTENERS_HOOK_SECRET": "from-env",
            "KINTO_EVENT_LISTENERS_HOOK_URL": "https://example.com/from-env",
        }
    )
    kinto_settings(**values)
    queue, hook = configuration().sinks
    assert (queue.kind, queue.url, queue.listname, queue.resources) == (
        "redis",
        "redis://127.0.0.1:6379/2",
        "events",
        ("record",),
    )
    assert (hook.kind, hook.url, hook.secret) == (
        "webhook",
        "https://example.com/from-env",
        "from-env",
    )


def test_listener_names_are_unique_and_short(kinto_settings):
    long_name = "x" * 101
    kinto_settings(
        event_listeners=f"q Q {long_name}",
        event_listeners_q_use="redis",
        event_listeners_q_url="redis://127.0.0.1:6379/0",
    )
    problems = [m.msg for m in run_checks() if m.id == "kinto_notifications.E001"]
    assert problems == [
        "Invalid event listener 'Q' is named twice",
        "Invalid event listener 'xxxxxxxxxxxxxxxxxxxx'…: longer than 100 characters",
    ]
    assert [sink.name for sink in configuration().sinks] == ["q"]


def test_a_list_deletion_costs_one_insert_however_many_records(
    api, kinto_settings, receiver, django_assert_max_num_queries
):
    factories.collection(api)
    factories.collection(api, collection_id="other", create_bucket=False)
    other = "/buckets/shop/collections/other/records"
    for n in range(20):
        factories.record(api, record_id=f"r{n}")
        factories.record(api, collection_id="other", record_id=f"r{n}")
    with CaptureQueriesContext(connection) as without:
        assert api.delete(other).status == 200
    kinto_settings(
        event_listeners="hook",
        event_listeners_hook_use="webhook",
        event_listeners_hook_url=receiver.url,
        event_listeners_hook_secret=SECRET,
    )
    with django_assert_max_num_queries(len(without) + 1):
        assert api.delete(RECORDS).status == 200
    (entry,) = entries()
    assert len(entry.impacted) == 20
