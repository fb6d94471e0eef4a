"""The engine's `resource_changed` signal as a site uses it (README: a receiver that mails):
sent after commit only, with the payload and the impacted objects."""

from __future__ import annotations

import pytest
from django.core import mail

from kinto_django import errors
from kinto_django.core.signals import resource_changed, resource_written
from tests import factories

RECORDS = factories.RECORDS


def mail_on_change(sender, payload, impacted_objects, **kwargs):
    """The README's example receiver."""
    if payload["resource_name"] == "record" and payload["action"] == "create":
        mail.send_mail(
            subject=f"{len(impacted_objects)} new record(s) in {payload['collection_id']}",
            message="\n".join(item["new"]["id"] for item in impacted_objects),
            from_email="kinto@example.com",
            recipient_list=["team@example.com"],
        )


@pytest.fixture
def api(db):
    """In the test's transaction (not the live tests' committing one): what runs on commit
    is held by `django_capture_on_commit_callbacks` until the test lets it run."""
    from django.test import Client

    from tests.conftest import Api

    return Api(Client(), user="alice")


@pytest.fixture
def mailing(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    resource_changed.connect(mail_on_change)
    yield mail.outbox
    resource_changed.disconnect(mail_on_change)


@pytest.fixture
def received():
    calls = []

    def receiver(sender, payload, impacted_objects, **kwargs):
        calls.append((payload, impacted_objects))

    resource_changed.connect(receiver)
    yield calls
    resource_changed.disconnect(receiver)


def test_a_receiver_gets_payload_and_impacted_objects_after_commit(
    api, mailing, received, django_capture_on_commit_callbacks
):
    factories.collection(api)
    received.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = factories.record(api, {"item": "lamp"}, record_id="r1")
    # Nothing was sent while the transaction was open.
    assert received == [] and mailing == []
    for callback in callbacks:
        callback()
    ((payload, impacted),) = received
    assert payload["action"] == "create"
    assert payload["uri"] == f"{RECORDS}/r1"
    assert (payload["bucket_id"], payload["collection_id"], payload["record_id"]) == (
        "shop",
        "orders",
        "r1",
    )
    assert payload["timestamp"] == record["last_modified"]
    assert impacted == [{"new": record}]
    (message,) = mailing
    assert message.subject == "1 new record(s) in orders"


@pytest.fixture
def failing_writes():
    """Writes of records named `boom` fail with a 500, of `bad` with a 400, after the change
    was made (and its event queued) inside the transaction."""

    def fail(sender, objects, **kwargs):
        for obj in objects:
            if obj.object_id == "boom":
                raise RuntimeError("boom")
            if obj.object_id == "bad":
                raise errors.invalid("body", "data", "refused")

    resource_written.connect(fail)
    yield
    resource_written.disconnect(fail)


def test_no_event_for_a_rolled_back_write(
    api, received, failing_writes, django_capture_on_commit_callbacks
):
    factories.collection(api)
    received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.put(f"{RECORDS}/boom", {"data": {}})
    assert response.status == 500
    assert received == []


def test_no_event_for_the_failed_sub_requests_of_a_batch(
    api, received, failing_writes, django_capture_on_commit_callbacks
):
    factories.collection(api)
    received.clear()
    batch = {
        "defaults": {"method": "PUT"},
        "requests": [
            {"path": f"{RECORDS}/good", "body": {"data": {}}},
            {"path": f"{RECORDS}/bad", "body": {"data": {}}},
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/batch", batch)
    assert [r["status"] for r in response.json["responses"]] == [201, 400]
    ((payload, impacted),) = received
    assert [item["new"]["id"] for item in impacted] == ["good"]
