"""On PostgreSQL, field sorts use jsonb's own order (one cheap key) only where the database
compares text byte by byte: collation C or POSIX from the C library. Anywhere else (e.g.
en_US.UTF-8, ICU) strings get their explicit code-point key."""

from __future__ import annotations

import os

import psycopg2
import pytest
from django.db import connection

from kinto_django.core.query.sql import compares_bytewise

pytestmark = pytest.mark.postgresql


class RawConnection:
    """The part of a Django connection `compares_bytewise` uses."""

    def __init__(self, raw) -> None:
        self.connection = raw

    def ensure_connection(self) -> None:
        pass


@pytest.fixture
def database_with(db):
    """Connect to a new database created with the given collation (dropped afterwards)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL collations")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    admin = psycopg2.connect(**{**params, "dbname": "postgres"})
    admin.autocommit = True
    created: list[str] = []
    opened: list = []

    def connect(collation: str) -> RawConnection:
        name = f"kinto_collation_{collation.replace('.', '_').lower()}_p{os.getpid()}"
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            quoted = f'"{name}"'
            cursor.execute(
                f"CREATE DATABASE {quoted} TEMPLATE template0 ENCODING 'UTF8' "
                f"LC_COLLATE '{collation}' LC_CTYPE '{collation}'"
            )
        created.append(name)
        raw = psycopg2.connect(**{**params, "dbname": name})
        opened.append(raw)
        return RawConnection(raw)

    yield connect
    for raw in opened:
        raw.close()
    with admin.cursor() as cursor:
        for name in created:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.mark.parametrize(
    ("collation", "bytewise"), [("C", True), ("POSIX", True), ("C.UTF-8", False)]
)
def test_only_a_bytewise_collation_takes_jsonbs_order(database_with, collation, bytewise):
    checked = database_with(collation)
    assert compares_bytewise(checked) is bytewise
    # Read once per physical connection: the answer is kept (no query on a closed one).
    checked.connection.close()
    with pytest.raises(psycopg2.InterfaceError):
        checked.connection.cursor()
    assert compares_bytewise(checked) is bytewise
