"""With `cache_url` on a Redis that is down, what needs the cache answers 503 (retry later)
and changes nothing; what does not need it keeps working."""

from __future__ import annotations

import pytest

from tests.core.query.test_querying_filters import Resource

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Nothing listens on port 1: every cache call fails at once.
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@pytest.fixture
def records(api) -> Resource:
    resource = Resource(api, "record")
    resource.fill({f"o{n}": {} for n in range(3)})
    return resource


def test_a_paginated_delete_answers_503_and_deletes_nothing(records, settings):
    settings.CACHES = UNREACHABLE_REDIS
    response = records.api.delete(f"{records.path}?_limit=2")
    assert response.status == 503
    assert response.json["errno"] == 201
    assert response.headers["Retry-After"]
    assert records.ids() == ["o2", "o1", "o0"]


def test_reads_and_unpaginated_writes_keep_working(records, settings):
    settings.CACHES = UNREACHABLE_REDIS
    page = records.get("_limit=2")
    assert page.status == 200 and "Next-Page" in page.headers
    assert records.api.delete(f"{records.path}/o0").status == 200
    assert records.ids() == ["o2", "o1"]
