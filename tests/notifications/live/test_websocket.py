"""Subscribing over WebSocket and receiving changes (in-memory layer, one process)."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from channels.testing import WebsocketCommunicator

from kinto_django import jsonutil
from tests import factories
from tests.notifications.conftest import TIMEOUT, Client, basic

RECORDS = factories.RECORDS


def test_subscriber_receives_created_updated_and_deleted_records(live, api):
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        subscribed = await client.subscribe(RECORDS, "orders")
        assert subscribed["type"] == "subscribed"
        assert subscribed["resource"] == RECORDS
        record = await live.call(factories.record, api, {"item": "lamp"}, record_id="r1")
        await live.call(api.patch, f"{RECORDS}/r1", {"data": {"qty": 2}})
        await live.call(api.delete, f"{RECORDS}/r1")
        created, updated, deleted = await client.changes(3)
        assert created == {
            "subscription": "orders",
            "type": "change",
            "action": "create",
            "resource_name": "record",
            "bucket_id": "shop",
            "collection_id": "orders",
            "id": "r1",
            "timestamp": record["last_modified"],
            "data": record,
        }
        assert updated["action"] == "update"
        assert updated["data"]["qty"] == 2 and updated["data"]["item"] == "lamp"
        assert deleted["action"] == "delete"
        assert deleted["data"] == {
            "id": "r1",
            "last_modified": deleted["timestamp"],
            "deleted": True,
        }
        await client.close()

    live.run(scenario)


def user_id(api, user):
    return api.as_user(user).get("/").json["user"]["id"]


def test_filters_and_fields_apply_to_live_changes(live, api):
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        subscribed = await client.subscribe(
            RECORDS, filters={"status": "paid", "min_qty": 2, "_fields": "qty"}
        )
        assert subscribed["type"] == "subscribed"
        await live.call(factories.record, api, {"status": "open", "qty": 5}, record_id="a")
        await live.call(factories.record, api, {"status": "paid", "qty": 1}, record_id="b")
        await live.call(factories.record, api, {"status": "paid", "qty": 3}, record_id="c")
        await live.call(api.delete, f"{RECORDS}/a")
        matching, tombstone = await client.changes(2)
        assert matching["id"] == "c"
        assert matching["data"] == {"id": "c", "qty": 3, "last_modified": matching["timestamp"]}
        # Deletions are always sent: a tombstone has no fields left to filter on.
        assert tombstone["action"] == "delete" and tombstone["id"] == "a"
        assert await client.nothing()
        await client.close()

    live.run(scenario)


def test_subscription_errors_are_the_http_api_errors(live, api):
    factories.collection(api)

    async def scenario():
        client = await live.connect("bob")
        denied = await client.subscribe(RECORDS, "denied")
        assert denied == {
            "type": "error",
            "subscription": "denied",
            "error": {
                "code": 403,
                "errno": 121,
                "error": "Forbidden",
                "message": "This user cannot access this resource.",
            },
        }
        missing = await client.subscribe("/buckets/shop/collections/nope/records", "missing")
        assert missing["error"]["code"] in (403, 404)
        bad_filter = await client.subscribe(RECORDS, "bad", filters={"like_code": 42})
        assert bad_filter["error"]["code"] == 400
        assert bad_filter["error"]["errno"] == 107
        record = await client.subscribe(f"{RECORDS}/r1", "object")
        assert record["error"]["code"] == 400
        unknown = await client.subscribe("/nowhere", "unknown")
        assert unknown["error"]["code"] == 404 and unknown["error"]["errno"] == 111
        await client.send(type="dance")
        assert (await client.receive())["error"]["code"] == 400
        await client.communicator.send_to(text_data="{not json")
        assert (await client.receive())["error"]["errno"] == 107
        await client.close()

        anonymous = await live.connect()
        unauthorized = await anonymous.subscribe(RECORDS)
        assert unauthorized["error"]["code"] == 401
        await anonymous.close()

    live.run(scenario)


def test_resume_limits_and_duplicates_are_refused(live, api, kinto_settings):
    kinto_settings(live_max_subscriptions=1)
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        assert (await client.subscribe(RECORDS, "one"))["type"] == "subscribed"
        again = await client.subscribe(RECORDS, "one")
        assert again["error"]["code"] == 400
        second = await client.subscribe(RECORDS, "two")
        assert "At most 1 subscriptions" in second["error"]["message"]
        await client.send(type="unsubscribe", id="one")
        assert (await client.receive()) == {"type": "unsubscribed", "subscription": "one"}
        tree = await client.subscribe(factories.COLLECTION, "tree", since=0)
        assert tree["error"]["message"] == "since in body: Only list subscriptions can resume"
        bad_since = await client.subscribe(RECORDS, "bad", since="yesterday")
        assert bad_since["error"]["code"] == 400
        await client.close()

    live.run(scenario)


def test_read_access_is_checked_when_each_change_is_delivered(live, api):
    bob = user_id(api, "bob")
    factories.collection(api, permissions={"read": [bob]})

    async def scenario():
        client = await live.connect("bob")
        assert (await client.subscribe(RECORDS))["type"] == "subscribed"
        await live.call(factories.record, api, {"n": 1}, record_id="before")
        (change,) = await client.changes(1)
        assert change["id"] == "before"
        # Alice revokes Bob's read access: the next change is not delivered to him.
        await live.call(api.patch, factories.COLLECTION, {"permissions": {"read": []}})
        await live.call(factories.record, api, {"n": 2}, record_id="after")
        assert await client.nothing(0.5)
        await client.close()

    live.run(scenario)


def test_objects_shared_one_by_one_are_delivered_to_their_readers_only(live, api):
    bob = user_id(api, "bob")
    factories.collection(api)

    async def scenario():
        client = await live.connect("bob")
        # Bob may list the records (he creates his own) but reads only those shared with him.
        await live.call(api.patch, factories.COLLECTION, {"permissions": {"record:create": [bob]}})
        assert (await client.subscribe(RECORDS))["type"] == "subscribed"
        batch = {
            "defaults": {"method": "PUT"},
            "requests": [
                {"path": f"{RECORDS}/private", "body": {"data": {"n": 1}}},
                {
                    "path": f"{RECORDS}/shared",
                    "body": {"data": {"n": 2}, "permissions": {"read": [bob]}},
                },
            ],
        }
        assert (await live.call(api.post, "/batch", batch)).status == 200
        (change,) = await client.changes(1)
        assert change["id"] == "shared"
        assert await client.nothing()
        await client.close()

    live.run(scenario)


def test_group_membership_changes_reach_open_connections(live, api):
    bob = user_id(api, "bob")
    factories.collection(api)
    factories.group(api, "readers", members=[])
    api.patch(factories.COLLECTION, {"permissions": {"read": ["/buckets/shop/groups/readers"]}})

    async def scenario():
        client = await live.connect("bob")
        subscribed = await client.subscribe(RECORDS)
        assert subscribed["error"]["code"] == 403
        await live.call(factories.group, api, "readers", members=[bob])
        # The connection's principals are refreshed when the group's event arrives.
        for _ in range(50):
            if (await client.subscribe(RECORDS))["type"] == "subscribed":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("group membership never reached the connection")
        await live.call(factories.record, api, {"n": 1}, record_id="r1")
        (change,) = await client.changes(1)
        assert change["id"] == "r1"
        # Removed from the group: the connection's principals are refreshed.
        await live.call(factories.group, api, "readers", members=[])
        await live.call(factories.record, api, {"n": 2}, record_id="r2")
        assert await client.nothing(0.5)
        await client.close()

    live.run(scenario)


def test_bucket_and_collection_subscriptions_follow_what_is_inside(live, api):
    factories.collection(api)

    async def scenario():
        client = await live.connect("alice")
        assert (await client.subscribe(factories.BUCKET, "bucket"))["type"] == "subscribed"
        assert (await client.subscribe(factories.COLLECTION, "orders"))["type"] == "subscribed"
        assert (await client.subscribe("/buckets", "buckets"))["type"] == "subscribed"
        await live.call(factories.record, api, {"n": 1}, record_id="r1")
        await live.call(api.put, "/buckets/shop/collections/other", None)
        await live.call(factories.group, api, "staff", members=[])
        await live.call(api.patch, factories.COLLECTION, {"data": {"title": "Orders"}})
        await live.call(api.patch, factories.BUCKET, {"data": {"title": "Shop"}})
        received = await client.changes(8)
        seen = sorted((c["subscription"], c["resource_name"], c["id"]) for c in received)
        assert seen == [
            ("bucket", "bucket", "shop"),
            ("bucket", "collection", "orders"),
            ("bucket", "collection", "other"),
            ("bucket", "group", "staff"),
            ("bucket", "record", "r1"),
            ("buckets", "bucket", "shop"),
            ("orders", "collection", "orders"),
            ("orders", "record", "r1"),
        ]
        assert await client.nothing()
        await client.close()

    live.run(scenario)


def test_credentials_in_the_first_message(live, api):
    factories.collection(api)

    async def scenario():
        wrong = await live.connect()
        await wrong.send(type="authenticate", authorization="Basic !!!")
        assert (await wrong.receive())["error"]["code"] == 401
        # One attempt per connection: no faster password guessing than over HTTP.
        await wrong.send(type="authenticate", authorization=basic("alice"))
        refused = await wrong.receive()
        assert "Authenticate once per connection" in refused["error"]["message"]
        await wrong.close()

        client = await live.connect()
        await client.send(type="authenticate", authorization=basic("alice"))
        authenticated = await client.receive()
        assert authenticated["type"] == "authenticated", authenticated
        assert authenticated["user_id"].startswith("basicauth:")
        assert (await client.subscribe(RECORDS))["type"] == "subscribed"
        await client.close()

    live.run(scenario)


async def hello_with(live, **headers: str) -> dict:
    """The `hello` of a connection opened with these handshake headers."""
    header_list = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    communicator = WebsocketCommunicator(live.application, "/v1/changes", header_list)
    connected, _ = await communicator.connect(TIMEOUT)
    assert connected
    hello = jsonutil.loads(await communicator.receive_from(TIMEOUT))
    await communicator.disconnect()
    return hello


def test_handshake_credentials_count_only_from_origins_listed_explicitly(
    live, api, kinto_settings
):
    kinto_settings(cors_origins=["https://app.example", "*"])
    alice = api.get("/").json["user"]["id"]

    async def scenario():
        # Not a browser (no Origin): the header is the client's own.
        assert (await hello_with(live, authorization=basic("alice")))["user_id"] == alice
        listed = await hello_with(live, authorization=basic("alice"), origin="https://app.example")
        assert listed["user_id"] == alice
        # A page of any other origin: its browser may have attached cached credentials on
        # its own (`*` lets pages read, not use them); the page must send `authenticate`.
        foreign = await hello_with(
            live, authorization=basic("alice"), origin="https://elsewhere.example"
        )
        assert foreign == {"type": "hello", "user_id": None}

    live.run(scenario)


def test_a_client_too_slow_to_read_is_closed_with_4008(live, api, kinto_settings):
    kinto_settings(live_send_queue_size=2)
    factories.collection(api)
    batch = {
        "defaults": {"method": "POST", "path": RECORDS},
        "requests": [{"body": {"data": {"n": n}}} for n in range(5)],
    }

    async def scenario():
        client = await live.connect("alice")
        assert (await client.subscribe(RECORDS))["type"] == "subscribed"
        # One event of five changes, queued at once: more than the connection's queue holds.
        await live.call(api.post, "/batch", batch)
        while True:
            message = await client.communicator.receive_output(TIMEOUT)
            if message["type"] == "websocket.close":
                break
        assert message["code"] == 4008
        await client.close()

    live.run(scenario)


def test_no_live_connection_when_live_push_is_disabled(live, kinto_settings):
    kinto_settings(live_enabled=False)

    async def scenario():
        communicator = WebsocketCommunicator(live.application, "/v1/changes")
        assert await communicator.connect(TIMEOUT) == (False, 4404)

    live.run(scenario)


@pytest.mark.parametrize("change", ["password", "deletion"])
def test_a_connection_ends_with_its_accounts_credentials(live, api, kinto_settings, change):
    """A changed password or a deleted account closes that account's live connections
    (4401: authenticate again), in every process; other connections stay."""
    kinto_settings(auth_policies="account basicauth", account_create_principals="system.Everyone")
    assert api.put("/accounts/ana", {"data": {"password": "one"}}, user=None).status == 201
    ana = ("ana", "one")
    factories.bucket(api, permissions={"read": ["system.Authenticated"]})
    factories.collection(api, create_bucket=False)

    async def scenario():
        communicator = WebsocketCommunicator(
            live.application,
            "/v1/changes",
            [(b"authorization", ("Basic " + base64.b64encode(b"ana:one").decode()).encode())],
        )
        assert (await communicator.connect(TIMEOUT))[0]
        client = Client(communicator)
        assert (await client.receive())["type"] == "hello"
        assert (await client.subscribe(RECORDS))["type"] == "subscribed"
        other = await live.connect("alice")
        assert (await other.subscribe(RECORDS))["type"] == "subscribed"
        if change == "password":
            changed = await live.call(
                api.patch, "/accounts/ana", {"data": {"password": "two"}}, user=ana
            )
            assert changed.status == 200
        else:
            assert (await live.call(api.delete, "/accounts/ana", user=ana)).status == 200
        while True:
            message = await communicator.receive_output(TIMEOUT)
            if message["type"] == "websocket.close":
                break
        assert message["code"] == 4401
        await live.call(factories.record, api, {"n": 1}, record_id="r1")
        (seen,) = await other.changes(1)
        assert seen["id"] == "r1"
        await other.close()

    live.run(scenario)


async def close_code(communicator):
    while True:
        message = await communicator.receive_output(TIMEOUT)
        if message["type"] == "websocket.close":
            return message["code"]


def test_a_user_holds_a_bounded_number_of_live_connections(live, api, kinto_settings):
    """Each connection holds a send queue and subscriptions: beyond
    `live_max_connections_per_user` in a process, a user's next one is refused (an error
    message of status 429, then close code 4029); other users are not affected, and a closed
    connection frees its place."""
    kinto_settings(live_max_connections_per_user=2)

    async def scenario():
        first = await live.connect("alice")
        second = await live.connect("alice")
        refused = WebsocketCommunicator(
            live.application, "/v1/changes", [(b"authorization", basic("alice").encode())]
        )
        assert (await refused.connect(TIMEOUT))[0]
        error = jsonutil.loads(await refused.receive_from(TIMEOUT))
        assert error["type"] == "error"
        assert error["error"]["code"] == 429 and error["error"]["errno"] == 117
        assert "At most 2 live connections" in error["error"]["message"]
        assert await close_code(refused) == 4029
        bob = await live.connect("bob")
        await first.close()
        third = await live.connect("alice")
        for client in (second, bob, third):
            await client.close()

    live.run(scenario)


def test_authenticating_by_message_counts_toward_the_users_connections(live, kinto_settings):
    kinto_settings(live_max_connections_per_user=1)

    async def scenario():
        held = await live.connect("alice")
        browser = await live.connect()  # anonymous, then credentials in a message
        await browser.send(type="authenticate", authorization=basic("alice"))
        error = await browser.receive()
        assert error["type"] == "error" and error["error"]["code"] == 429
        assert await close_code(browser.communicator) == 4029
        await held.close()

    live.run(scenario)


def test_anonymous_connections_are_bounded_per_client_address(live, kinto_settings):
    kinto_settings(live_max_connections_per_user=1)

    async def scenario():
        held = await live.connect()
        refused = WebsocketCommunicator(live.application, "/v1/changes")
        assert (await refused.connect(TIMEOUT))[0]
        error = jsonutil.loads(await refused.receive_from(TIMEOUT))
        assert error["error"]["code"] == 429
        assert await close_code(refused) == 4029
        await held.close()

    live.run(scenario)


def test_a_handshake_while_the_database_is_down_is_a_503(live, monkeypatch):
    """Where the server lets the application answer a handshake over HTTP (uvicorn does), a
    503 with `Retry-After` and the API's JSON error, as over HTTP; elsewhere the error as a
    message, then close code 1013 (try again later). Never a 500."""
    from django.db import OperationalError

    def database_down(*args):
        raise OperationalError("connection refused")

    monkeypatch.setattr("kinto_django.notifications.live.websocket.identify", database_down)

    async def scenario():
        headers = [(b"authorization", basic("alice").encode())]
        plain = WebsocketCommunicator(live.application, "/v1/changes", headers)
        assert (await plain.connect(TIMEOUT))[0]
        error = jsonutil.loads(await plain.receive_from(TIMEOUT))
        assert error["error"]["code"] == 503 and error["error"]["errno"] == 201
        assert await close_code(plain) == 1013

        answering = WebsocketCommunicator(live.application, "/v1/changes", headers)
        answering.scope["extensions"] = {"websocket.http.response": {}}
        await answering.send_input({"type": "websocket.connect"})
        start = await answering.receive_output(TIMEOUT)
        assert start["type"] == "websocket.http.response.start"
        assert start["status"] == 503
        assert dict(start["headers"])[b"retry-after"].isdigit()
        body = await answering.receive_output(TIMEOUT)
        assert jsonutil.loads(body["body"])["errno"] == 201

    live.run(scenario)


def test_subscribed_comes_before_any_change_of_the_subscription(live, api, monkeypatch):
    """A change committed while the subscription is being checked is heard live (the
    subscription is registered first) but reaches the client only after `subscribed`: a
    client that waits for the answer to its `subscribe` never sees a change first."""
    from kinto_django.notifications.live import subscriptions

    factories.collection(api)
    authorize = subscriptions.authorize

    def slow_authorize(identity, target):
        answer = authorize(identity, target)
        factories.record(api, {"item": "during"}, record_id="r1")
        time.sleep(0.5)  # the change is dispatched meanwhile
        return answer

    monkeypatch.setattr(subscriptions, "authorize", slow_authorize)

    async def scenario():
        client = await live.connect("alice")
        await client.send(
            type="subscribe", id="s", resource="/buckets/shop/collections/orders/records"
        )
        first = await client.receive()
        assert first["type"] == "subscribed", first
        second = await client.receive()
        assert second["type"] == "change" and second["id"] == "r1", second
        await client.close()

    live.run(scenario)
