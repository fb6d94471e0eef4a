"""Durable listeners chosen by settings: Redis queues and webhooks.

Configured as the reference server's listeners (spec/09, "Configurable listeners"):

    event_listeners = queue hook
    event_listeners.queue.use = redis
    event_listeners.hook.use = webhook
    event_listeners.hook.url = https://example.com/kinto
    event_listeners.hook.secret = s3cret
    event_listeners.hook.actions = create delete
    event_listeners.hook.resources = record

(environment: `KINTO_EVENT_LISTENERS_HOOK_URL=…`; the settings loader turns the dots into
underscores). Their events go through the outbox (`outbox.entries`) and are delivered by
the dispatcher (`outbox.dispatcher`), never in the request path.

Both kinds receive the same JSON message per merged event:
`{"id": "<event uuid>", "payload": {…}, "impacted_objects": [{"new": …, "old": …}, …]}`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.signals import setting_changed

from kinto_django.conf import as_list, kinto_settings
from kinto_django.notifications.conf import notification_settings

logger = logging.getLogger(__name__)

WRITE_ACTIONS = ("create", "update", "delete")
# `use` values: ours, and the reference server's Redis listener module (its INI files keep
# working; its `pool_size` option is ignored).
KINDS = {"redis": "redis", "kinto_redis.listeners": "redis", "webhook": "webhook"}
DEFAULT_LISTNAME = "kinto_events"
MAX_NAME_LENGTH = 100  # OutboxEntry.listener
DEFAULT_TIMEOUT_SECONDS = 10.0
SIGNATURE_HEADER = "X-Kinto-Signature"
EVENT_ID_HEADER = "X-Kinto-Event-Id"
ATTEMPT_HEADER = "X-Kinto-Delivery-Attempt"


class DeliveryFailed(Exception):
    """A delivery did not happen; it is retried later.

    `unreachable` says the destination could not be reached at all (connection refused,
    timeout): nothing else of that listener is tried until its next retry is due.
    """

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def setting_key(name: str, option: str) -> str:
    """The setting of a listener's option, as the settings loader names it
    (`event_listeners.Hook-1.url` → `event_listeners_hook_1_url`)."""
    normalized = name.strip().lower().replace("-", "_").replace(".", "_")
    return f"event_listeners_{normalized}_{option}"


def signature(secret: str, body: bytes) -> str:
    """The `X-Kinto-Signature` value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Sink:
    """A durable listener: a name, the events it wants, and how to deliver one message."""

    kind = ""

    def __init__(
        self, name: str, actions: tuple[str, ...], resources: tuple[str, ...], timeout: float
    ) -> None:
        self.name = name
        self.actions = actions
        self.resources = resources
        self.timeout = timeout

    def wants(self, action: str, resource_name: str) -> bool:
        return action in self.actions and (not self.resources or resource_name in self.resources)

    def deliver(self, event_id: str, body: bytes, attempt: int) -> None:
        """Deliver one message or raise DeliveryFailed."""
        raise NotImplementedError


class RedisQueue(Sink):
    """RPUSH each message onto a Redis list: consumers BLPOP from its head, oldest first."""

    kind = "redis"

    def __init__(self, name: str, actions, resources, timeout: float, url: str, listname: str):
        super().__init__(name, actions, resources, timeout)
        self.url = url
        self.listname = listname
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # One immediate reconnection (a pooled connection broken by a Redis restart);
            # the dispatcher does the patient retrying.
            self._client = redis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 1),
            )
        return self._client

    def deliver(self, event_id: str, body: bytes, attempt: int) -> None:
        import redis

        try:
            self.client().rpush(self.listname, body)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise DeliveryFailed(f"Redis unreachable: {error}", unreachable=True) from None
        except redis.RedisError as error:
            raise DeliveryFailed(
                f"Redis refused the message: {error}", unreachable=False
            ) from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected webhook is a failed delivery: following it would re-send the body (and
    its signature) to a URL nobody configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class Webhook(Sink):
    """POST each message to a URL, signed with the hook's secret; any 2xx is a delivery."""

    kind = "webhook"

    def __init__(self, name: str, actions, resources, timeout: float, url: str, secret: str):
        # What logs and the outbox say of the receiver: scheme, host and port only, never
        # its path, query or userinfo, which often hold tokens.
        self.address = public_address(url)
        super().__init__(name, actions, resources, timeout)
        self.url = url
        self.secret = secret

    def deliver(self, event_id: str, body: bytes, attempt: int) -> None:
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"{kinto_settings.project_name}-webhooks",
                SIGNATURE_HEADER: signature(self.secret, body),
                EVENT_ID_HEADER: event_id,
                ATTEMPT_HEADER: str(attempt),
            },
        )
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise DeliveryFailed(
                f"{self.address} answered {error.code} {error.reason}", unreachable=False
            ) from None
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out…
            reason = getattr(error, "reason", error)
            raise DeliveryFailed(
                f"{self.address} unreachable: {reason}", unreachable=True
            ) from None


@dataclass
class Configuration:
    """The durable listeners the settings define, and what is wrong with the others."""

    sinks: list[Sink]
    problems: list[str]


def read_configuration() -> Configuration:
    """Parse `event_listeners` and each listener's options from the settings."""
    sinks: list[Sink] = []
    problems: list[str] = []
    names = notification_settings.event_listeners
    seen: set[str] = set()
    for name in names:
        key = setting_key(name, "")
        if len(name) > MAX_NAME_LENGTH:
            problems.append(
                f"event listener {name[:20]!r}…: longer than {MAX_NAME_LENGTH} characters"
            )
            continue
        if key in seen:
            problems.append(f"event listener {name!r} is named twice")
            continue
        seen.add(key)
        sink, problem = read_listener(name)
        if problem:
            problems.append(f"event listener {name!r}: {problem}")
        else:
            sinks.append(sink)
    return Configuration(sinks, problems)


def read_listener(name: str) -> tuple[Sink | None, str | None]:
    """One listener (a Sink) from its settings, or the reason it cannot be built."""

    def option(option: str, default: Any = None) -> Any:
        value = kinto_settings.raw.get(setting_key(name, option))
        return default if value is None or value == "" else value

    use = str(option("use", "")).strip()
    kind = KINDS.get(use)
    if kind is None:
        return None, f"`use` is {use!r}, expected redis or webhook"
    actions = tuple(as_list(option("actions", WRITE_ACTIONS)))
    unknown = [action for action in actions if action not in WRITE_ACTIONS]
    if unknown:
        return None, (
            f"unsupported actions {', '.join(unknown)} (durable listeners receive "
            f"{', '.join(WRITE_ACTIONS)})"
        )
    resources = tuple(as_list(option("resources", ())))
    try:
        timeout = float(option("timeout_seconds", DEFAULT_TIMEOUT_SECONDS))
    except (TypeError, ValueError):
        return None, "`timeout_seconds` must be a number"
    if not 0 < timeout < math.inf:
        return None, "`timeout_seconds` must be positive"
    if kind == "redis":
        url = str(option("url", kinto_settings.raw.get("redis_url") or ""))
        if url_scheme(url) not in {"redis", "rediss", "unix"}:
            return None, "`url` (or `redis_url`) must be a redis://, rediss:// or unix:// URL"
        listname = str(option("listname", DEFAULT_LISTNAME))
        return RedisQueue(name, actions, resources, timeout, url, listname), None
    url = str(option("url", ""))
    if url_scheme(url) not in {"http", "https"} or not urlsplit(url).hostname:
        return None, "`url` must be an http:// or https:// URL"
    secret = str(option("secret", ""))
    if not secret:
        return None, "`secret` is required (deliveries are signed with it)"
    return Webhook(name, actions, resources, timeout, url, secret), None


def public_address(url: str) -> str:
    """`scheme://host[:port]` of a URL, without what may be secret in the rest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def url_scheme(url: str) -> str | None:
    """The scheme of a URL, None when it cannot be parsed (`http://[::1`)."""
    try:
        return urlsplit(url).scheme
    except ValueError:
        return None


_configuration: Configuration | None = None


def configuration() -> Configuration:
    """The parsed listener settings, kept until the settings change."""
    global _configuration
    if _configuration is None:
        _configuration = read_configuration()
        for problem in _configuration.problems:
            logger.error("Ignoring %s", problem)
    return _configuration


def configured_sinks() -> list[Sink]:
    return configuration().sinks


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _configuration
    if setting == "KINTO":
        _configuration = None


setting_changed.connect(_reset)
