"""The live listener: committed events go to the channel layer groups they concern.

Only what delivery needs travels: the payload and the new version of each object (the old
one is never sent to clients). The event is serialised once here as JSON text, which both
layers carry unchanged (integers of any size included, unlike msgpack).
"""

from __future__ import annotations

import uuid
from typing import Any

from kinto_django import jsonutil
from kinto_django.notifications.conf import notification_settings
from kinto_django.notifications.live.groups import (
    CREDENTIALS,
    groups_of_event,
    revoked_principals,
)
from kinto_django.notifications.live.runtime import publisher

MESSAGE_TYPE = "kinto.event"


def broadcast(payload: dict[str, Any], impacted: list[dict[str, Any]]) -> None:
    """Listener callable: publish one merged event (called after commit, in any thread)."""
    if not notification_settings.live_enabled:
        return
    revoked = revoked_principals(payload, impacted)
    if revoked:
        # Every process closes the live connections of these accounts.
        publisher.publish(
            [CREDENTIALS], {"type": MESSAGE_TYPE, "id": uuid.uuid4().hex, "revoked": revoked}
        )
    names = groups_of_event(payload, impacted)
    if not names:
        return
    event = {"payload": payload, "impacted": [{"new": item["new"]} for item in impacted]}
    publisher.publish(
        names,
        {"type": MESSAGE_TYPE, "id": uuid.uuid4().hex, "event": jsonutil.dumps(event).decode()},
    )
