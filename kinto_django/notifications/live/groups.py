"""Channel-layer group names: where an event is broadcast and where a subscription listens.

Every server process joins the groups its subscribers need, and a broadcast goes to the few
groups an event concerns, so a process hears only what some local client may want:

| group | events | subscriptions |
|---|---|---|
| `buckets` | bucket changes | `/buckets` |
| `b.<bucket>` | every change in the bucket, the bucket's own included | `/buckets/{bid}`, `/buckets/{bid}/collections`, `/buckets/{bid}/groups` |
| `c.<bucket>.<collection>` | the collection's changes and its records' | `/buckets/{bid}/collections/{cid}`, `…/records` |
| `membership` | group changes (principals of live connections) | every process |
| `credentials` | accounts whose password changed or that were deleted | every process |

Object ids are hashed: group names are limited to 100 ASCII characters.
"""

from __future__ import annotations

import hashlib
from typing import Any

PREFIX = "kinto"
BUCKETS = f"{PREFIX}.buckets"
MEMBERSHIP = f"{PREFIX}.membership"
CREDENTIALS = f"{PREFIX}.credentials"


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:40]


def bucket_group(bucket_id: str) -> str:
    return f"{PREFIX}.b.{_digest(bucket_id)}"


def collection_group(bucket_id: str, collection_id: str) -> str:
    return f"{PREFIX}.c.{_digest(bucket_id, collection_id)}"


def groups_of_event(payload: dict[str, Any], impacted: list[dict[str, Any]]) -> list[str]:
    """The groups an event goes to. A merged event may hold several buckets or collections
    (one batch creating two of them), hence the per-object groups."""
    resource_name = payload.get("resource_name")
    ids = [item["new"]["id"] for item in impacted if item.get("new")]
    if resource_name == "bucket":
        return [BUCKETS, *(bucket_group(i) for i in dict.fromkeys(ids))]
    bucket_id = payload.get("bucket_id")
    if bucket_id is None:
        return []  # accounts and other types outside buckets: nobody can subscribe to them
    if resource_name == "collection":
        return [
            bucket_group(bucket_id),
            *(collection_group(bucket_id, i) for i in dict.fromkeys(ids)),
        ]
    if resource_name == "group":
        return [bucket_group(bucket_id), MEMBERSHIP]
    if resource_name == "record" and payload.get("collection_id") is not None:
        return [bucket_group(bucket_id), collection_group(bucket_id, payload["collection_id"])]
    return []


def revoked_principals(payload: dict[str, Any], impacted: list[dict[str, Any]]) -> list[str]:
    """Accounts whose credentials a change ends: deleted, or whose password changed (the
    digest shown as `password` changes exactly when the password does)."""
    if payload.get("resource_name") != "account":
        return []
    revoked = []
    for item in impacted:
        new, old = item.get("new") or {}, item.get("old") or {}
        if new.get("deleted") or new.get("password") != old.get("password"):
            revoked.append(f"account:{new.get('id') or old.get('id')}")
    return revoked
