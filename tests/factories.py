"""Builders that go through the API, so timestamps and ACLs are always valid."""

from __future__ import annotations

from typing import Any

BUCKET = "/buckets/shop"
COLLECTION = f"{BUCKET}/collections/orders"
RECORDS = f"{COLLECTION}/records"


def bucket(api: Any, bucket_id: str = "shop", **body: Any) -> dict:
    response = api.put(f"/buckets/{bucket_id}", body or None)
    assert response.status in (200, 201), response
    return response.json


def collection(
    api: Any,
    bucket_id: str = "shop",
    collection_id: str = "orders",
    create_bucket: bool = True,
    **body: Any,
) -> dict:
    if create_bucket:
        created = api.put(f"/buckets/{bucket_id}", headers={"If-None-Match": "*"})
        assert created.status in (201, 412), created
    response = api.put(f"/buckets/{bucket_id}/collections/{collection_id}", body or None)
    assert response.status in (200, 201), response
    return response.json


def record(
    api: Any,
    data: dict | None = None,
    bucket_id: str = "shop",
    collection_id: str = "orders",
    record_id: str | None = None,
    **body: Any,
) -> dict:
    path = f"/buckets/{bucket_id}/collections/{collection_id}/records"
    payload = {"data": data or {}, **body}
    response = api.put(f"{path}/{record_id}", payload) if record_id else api.post(path, payload)
    assert response.status in (200, 201), response
    return response.json["data"]


def group(
    api: Any, group_id: str = "staff", members: list[str] | None = None, bucket_id: str = "shop"
) -> dict:
    response = api.put(
        f"/buckets/{bucket_id}/groups/{group_id}", {"data": {"members": members or []}}
    )
    assert response.status in (200, 201), response
    return response.json
