"""What a live client can ask, whatever the transport: authenticate, subscribe (with an
optional resume point) and unsubscribe. Transports (WebSocket, Server-Sent Events) only move
the messages."""

from __future__ import annotations

import asyncio
import logging
from importlib import import_module
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from kinto_django import errors, jsonutil
from kinto_django.core.observability import metrics
from kinto_django.core.query.fields import project_fields
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.live import subscriptions
from kinto_django.notifications.live.connections import LiveConnection, Subscription, change_body
from kinto_django.notifications.live.hub import get_hub
from kinto_django.notifications.live.matching import matches
from kinto_django.notifications.live.runtime import run_db
from kinto_django.permissions import service as permissions

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTION_ID_LENGTH = 64


def identify(authorization: str, site_session_key: str | None = None) -> permissions.Identity:
    """The caller behind an `Authorization` value, or a host site's session (the `django`
    policy), through the API's own policies."""
    request = HttpRequest()
    request.method = "GET"
    request.META["HTTP_AUTHORIZATION"] = authorization
    if site_session_key:
        from django.contrib.auth import get_user

        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(site_session_key)
        request.user = get_user(request)
    return permissions.principals_for(request)


def message(kind: str, **fields: Any) -> str:
    """A server message of a `type`, as JSON text."""
    return jsonutil.dumps({"type": kind, **fields}).decode()


def error_message(error: errors.KintoError, subscription_id: Any = None) -> str:
    metrics.count_unavailable(error.cause)
    return message("error", subscription=subscription_id, error=error.body())


def parse_since(value: Any, location: str) -> int | None:
    """A resume timestamp: a non-negative integer (or its decimal text), or nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.invalid(location, "since", "Should be a timestamp (integer, milliseconds)")
    return value


class Session(LiveConnection):
    """A connected client: its identity, subscriptions and replays."""

    def __init__(self, identity: permissions.Identity, address: str | None = None) -> None:
        """Raises 429 beyond `live_max_connections_per_user`."""
        super().__init__(identity, address)
        self.hub = get_hub()
        self.hub.connect(self)
        self.replays: set[asyncio.Task] = set()
        self.authentication_tried = False

    async def authenticate(self, authorization: Any) -> str:
        """Credentials sent in a message (browsers): valid ones replace the anonymous
        identity of the connection, before any subscription. One attempt per connection, so
        that a socket is no faster than HTTP requests at guessing passwords."""
        if not isinstance(authorization, str) or not authorization:
            raise errors.invalid("body", "authorization", "Should be an Authorization value")
        if self.subscriptions or self.authentication_tried:
            raise errors.invalid(
                "body", "type", "Authenticate once per connection, before subscribing"
            )
        self.authentication_tried = True
        identity = await run_db("connections", identify, authorization)
        if not identity.authenticated:
            raise errors.unauthorized()
        anonymous, self.identity = self.identity, identity
        try:
            self.hub.admit(self)
        except errors.KintoError:
            self.identity = anonymous
            raise
        return message("authenticated", user_id=identity.user_id)

    async def subscribe(
        self,
        subscription_id: Any,
        resource: Any,
        filters: Any = None,
        since: Any = None,
        location: str = "body",
    ) -> None:
        """Check and register a subscription, answer `subscribed`, then replay the changes
        after `since` when it resumes (an error raises)."""
        if not isinstance(subscription_id, str) or not (
            0 < len(subscription_id) <= MAX_SUBSCRIPTION_ID_LENGTH
        ):
            raise errors.invalid(
                location,
                "id",
                f"Should be a string of 1 to {MAX_SUBSCRIPTION_ID_LENGTH} characters",
            )
        if subscription_id in self.subscriptions:
            raise errors.invalid(
                location, "id", f"Subscription {subscription_id!r} exists already"
            )
        if len(self.subscriptions) >= notification_settings.live_max_subscriptions:
            raise errors.invalid(
                location,
                "id",
                f"At most {notification_settings.live_max_subscriptions} subscriptions "
                "per connection",
            )
        since = parse_since(since, location)
        target = subscriptions.parse_target(self.identity, resource, filters, location)
        if since is not None and not target.is_list:
            raise errors.invalid(location, "since", "Only list subscriptions can resume")
        # Its live changes wait (`replaying`) until `subscribed` is sent: a change may come
        # while the database is read, and must not reach the client before the answer.
        subscription = Subscription(self, subscription_id, target, since, replaying=True)
        # Registered before the database is read: nothing committed later can be missed.
        self.subscriptions[subscription_id] = subscription
        try:
            await self.hub.add(subscription)
            timestamp = await run_db("connections", subscriptions.authorize, self.identity, target)
        except BaseException:
            await self.unsubscribe(subscription_id)
            raise
        self.push(
            message(
                "subscribed",
                subscription=subscription_id,
                resource=target.resource,
                timestamp=timestamp,
            )
        )
        if since is None:
            subscription.end_replay(None)
            return
        task = asyncio.get_running_loop().create_task(self.replay(subscription, since))
        self.replays.add(task)
        task.add_done_callback(self.replays.discard)

    async def replay(self, subscription: Subscription, since: int) -> None:
        """Send the list's changes after `since` from the database, then switch to live."""
        target = subscription.target
        page_size = notification_settings.live_replay_page_size
        cursor, last = since, None
        try:
            while True:
                page = await run_db(
                    "connections",
                    subscriptions.replay_page,
                    self.identity,
                    target,
                    cursor,
                    page_size,
                )
                for obj in page:
                    last = obj["last_modified"]
                    if target.filters and not matches(obj, target.filters):
                        continue
                    await self.push_wait(
                        subscription.prefix + replayed_body(target, obj)[1:], last
                    )
                if len(page) < page_size:
                    break
                cursor = last
        except errors.KintoError as error:
            await self.unsubscribe(subscription.id)
            self.push(error_message(error, subscription.id))
            return
        except Exception:  # noqa: BLE001 - report it to the client, keep the connection
            logger.exception("Live replay failed")
            await self.unsubscribe(subscription.id)
            self.push(error_message(errors.internal_error(), subscription.id))
            return
        self.push(
            message("replayed", subscription=subscription.id, timestamp=last if last else since)
        )
        subscription.end_replay(last)

    async def unsubscribe(self, subscription_id: Any) -> str:
        """Stop a subscription; returns the `unsubscribed` message."""
        subscription = (
            self.subscriptions.pop(subscription_id, None)
            if isinstance(subscription_id, str)
            else None
        )
        if subscription is None:
            raise errors.invalid("body", "id", f"No subscription {subscription_id!r}")
        await self.hub.remove(subscription)
        return message("unsubscribed", subscription=subscription_id)

    async def close(self) -> None:
        """The client is gone: stop its replays and subscriptions."""
        for task in list(self.replays):
            task.cancel()
        await self.hub.disconnect(self)


def replayed_body(target: subscriptions.Target, obj: dict[str, Any]) -> str:
    """A change read back from the database: its latest version only, so a live object is
    reported as an `update` (whether it was created or changed is not stored)."""
    resource_name = subscriptions.LISTS[target.route]
    change: dict[str, Any] = {
        "action": "delete" if obj.get("deleted") else "update",
        "resource_name": resource_name,
    }
    if target.bucket_id is not None:
        change["bucket_id"] = target.bucket_id
    if target.collection_id is not None:
        change["collection_id"] = target.collection_id
    if resource_name == "bucket":
        change["bucket_id"] = obj["id"]
    elif resource_name == "collection":
        change["collection_id"] = obj["id"]
    data = project_fields(obj, target.fields) if target.fields is not None else obj
    change.update(id=obj["id"], timestamp=obj["last_modified"], data=data, replayed=True)
    return change_body(change)
