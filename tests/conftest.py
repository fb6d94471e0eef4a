"""Shared fixtures: an HTTP client speaking the protocol, and the database under test.

The suite runs on SQLite by default and on PostgreSQL when `KINTO_STORAGE_URL` points to it
(`bin/test` runs both).
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import settings as hypothesis_settings

from kinto_django import jsonutil

PASSWORD = "secret"

# Property tests: `ci` (bin/test and .ci/run) runs every example count as written; `dev`, the
# default of a bare `pytest`, a fifth of them, for the inner loop.
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
hypothesis_settings.register_profile("ci", deadline=None)
hypothesis_settings.register_profile("dev", deadline=None, max_examples=20)
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


def examples(count: int) -> int:
    """How many examples a property test with its own count runs under the current profile."""
    return count if HYPOTHESIS_PROFILE == "ci" else max(10, count // 5)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """PostgreSQL test databases named after this test process too: two runs in one checkout
    at the same time (a developer and CI, or several agents) must not drop each other's."""
    from django.conf import settings

    for database in settings.DATABASES.values():
        if database["ENGINE"].endswith("postgresql"):
            test = database.setdefault("TEST", {})
            test["NAME"] = f"{test.get('NAME') or 'test_' + database['NAME']}_p{os.getpid()}"


def basic(user: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Response:
    """What a test looks at: status, headers, parsed body."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.status = raw.status_code
        self.headers = raw.headers
        self.content = raw.content
        try:
            self.json = jsonutil.loads_stored(raw.content) if raw.content else None
        except ValueError:
            self.json = None

    @property
    def data(self) -> Any:
        return self.json["data"]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.content[:300]!r}>"


class Api:
    """Requests against the API as a client would send them (routing, middleware, views)."""

    def __init__(self, client: Client, user: str | None = None) -> None:
        self.client = client
        self.user = user

    def as_user(self, user: str | None) -> Api:
        return Api(self.client, user)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        content_type: str | None = "application/json",
        raw: bytes | None = None,
        user: Any = "default",
    ) -> Response:
        user = self.user if user == "default" else user
        all_headers = dict(headers or {})
        if user is not None and "Authorization" not in all_headers:
            all_headers["Authorization"] = basic(user) if isinstance(user, str) else basic(*user)
        if not path.startswith("/"):
            path = "/" + path
        if not path.startswith("/v1") and not path.startswith("/__"):
            path = "/v1" + path
        payload = raw if raw is not None else (jsonutil.dumps(body) if body is not None else b"")
        kwargs: dict[str, Any] = {"headers": all_headers}
        if payload or content_type:
            kwargs["content_type"] = content_type or ""
        response = self.client.generic(method, path, payload, **kwargs)
        return Response(response)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Response:
        return self.request("HEAD", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(db: Any) -> Api:
    """A client authenticated as `alice` (pass `user=None` for anonymous requests)."""
    return Api(Client(), user="alice")


@pytest.fixture
def anonymous(db: Any) -> Api:
    return Api(Client(), user=None)


@pytest.fixture
def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def kinto_settings(settings: Any):
    """Override engine settings for one test: `kinto_settings(paginate_by=2)`."""

    def apply(**values: Any) -> None:
        settings.KINTO = {**settings.KINTO, **values}

    return apply
