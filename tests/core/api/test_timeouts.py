"""`storage_statement_timeout_ms` and `storage_lock_timeout_ms` (PostgreSQL): a statement that
runs, or waits for a lock, longer is cancelled, and its request answers 503 with
`Retry-After` instead of holding its worker thread for good."""

from __future__ import annotations

import time

import psycopg2
import pytest
from django.db import connection
from django.test import Client

from kinto_django.core import timestamps
from tests import factories
from tests.conftest import Api

pytestmark = pytest.mark.postgresql

RECORDS = "/buckets/shop/collections/orders/records"


@pytest.fixture
def api(transactional_db, kinto_settings):
    if connection.vendor != "postgresql":
        pytest.skip("statement and lock timeouts are PostgreSQL settings")
    client = Api(Client(), user="alice")
    factories.collection(client)
    yield client
    # The limits stay on the connection: lift them before the test database is emptied.
    if connection.connection is not None:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0; SET lock_timeout = 0")


def reconnect() -> None:
    """The timeouts are set when a connection opens."""
    connection.close()


def test_a_write_waiting_too_long_for_a_lock_answers_503(api, kinto_settings):
    kinto_settings(storage_lock_timeout_ms=200)
    reconnect()
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    other = psycopg2.connect(**params)
    try:
        with other.cursor() as cursor:
            # Another session holds every list timestamp, as a stuck writer would.
            cursor.execute(f"LOCK TABLE {timestamps.TABLE} IN EXCLUSIVE MODE")
            started = time.monotonic()
            response = api.post(RECORDS, {"data": {"n": 1}})
            waited = time.monotonic() - started
        assert response.status == 503, response
        assert response.headers["Retry-After"].isdigit()
        assert response.json["errno"] == 201
        assert waited < 5
    finally:
        other.rollback()
        other.close()
    assert api.post(RECORDS, {"data": {"n": 1}}).status == 201


def test_a_statement_running_too_long_answers_503(api, kinto_settings, monkeypatch):
    kinto_settings(storage_statement_timeout_ms=100)
    reconnect()
    read = timestamps.list_timestamp

    def slow(*args):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")
        return read(*args)

    monkeypatch.setattr(timestamps, "list_timestamp", slow)
    started = time.monotonic()
    response = api.get(RECORDS)
    assert response.status == 503 and response.headers["Retry-After"].isdigit()
    assert time.monotonic() - started < 1.5
    monkeypatch.setattr(timestamps, "list_timestamp", read)
    assert api.get(RECORDS).status == 200


def test_while_connection_slots_are_short_requests_give_their_connection_back(api, monkeypatch):
    """PostgreSQL refused a connection for lack of slots: each thread then closes its
    connection after each request, so that idle threads do not hold every slot (the server
    would stay at 503 once the load dropped). Back to persistent connections a minute after
    the last refusal."""
    from kinto_django import errors

    monkeypatch.setattr(errors, "_connections_short_until", 0.0)
    assert api.get(RECORDS).status == 200
    assert connection.connection is not None  # kept for `conn_max_age`
    refused = psycopg2.OperationalError("FATAL:  sorry, too many clients already")
    assert errors.database_failure_cause(refused) == errors.CAUSE.CONNECTIONS
    assert api.get(RECORDS).status == 200
    assert connection.connection is None  # given back
    monkeypatch.setattr(errors, "_connections_short_until", time.monotonic() - 1)
    assert api.get(RECORDS).status == 200
    assert connection.connection is not None
