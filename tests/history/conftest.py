"""Fixtures of the history tests: the plugin switched on, and helpers to read entries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


@pytest.fixture
def history(api: Api, kinto_settings) -> Api:
    """`api` (as alice) with the history plugin on."""
    kinto_settings(history_enabled=True)
    return api


def user_id(api: Api, user: str | None = "default") -> str:
    """The user id of a caller (`basicauth:…`)."""
    return api.get("/", user=user).json["user"]["id"]


def entries(api: Api, bucket_id: str = "shop", query: str = "", **kwargs: Any) -> list[dict]:
    """The bucket's history entries (newest first), asserting a 200."""
    path = f"/buckets/{bucket_id}/history" + (f"?{query}" if query else "")
    response = api.get(path, **kwargs)
    assert response.status == 200, response
    return response.data


def summary(items: list[dict]) -> list[tuple[str, str]]:
    """(action, uri) of each entry: what most assertions look at."""
    return [(entry["action"], entry["uri"]) for entry in items]
