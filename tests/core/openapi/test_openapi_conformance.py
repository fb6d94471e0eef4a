"""`GET /__api__` against the server's behaviour: schemathesis generates requests from the
document for every documented operation and checks each answer (status documented, content
type, body and headers valid against the document, never a 5xx).

Requests go through the project's WSGI application, as an account admin, as a stranger or
anonymously, with path parameters naming seeded objects most of the time. Each example runs in
a savepoint rolled back afterwards, so every one starts from the seeded objects.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from kinto_django.core.openapi.document import api_paths
from tests.conftest import examples

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
ADMIN = ("admin", "s3cret")
# Every optional feature on, so that every route is documented and exercised.
FEATURES = {
    "auth_policies": "account basicauth",
    "account_create_principals": "system.Everyone",
    "account_write_principals": "account:admin",
    "history_enabled": True,
    "flush_endpoint_enabled": True,
    "experimental_permissions_endpoint": True,
    "experimental_collection_schema_validation": True,
    # Any generated file name is accepted (uploads that succeed are exercised too).
    "attachment_extensions": "any",
}
# The seeded object a path parameter names, by parameter or by the list an `{id}` belongs to.
SEEDED = {"bucket_id": "b1", "collection_id": "c1"}
SEEDED_IDS = {
    "accounts": "admin",
    "buckets": "b1",
    "collections": "c1",
    "groups": "g1",
    "records": "r1",
}
# Only the ASGI application serves live changes: through WSGI `/changes` can only refuse.
REFUSED_THROUGH_WSGI = {"GET /changes", "HEAD /changes"}
EXAMPLES = 15
SEEDED_MOSTLY = st.sampled_from([True, True, True, False])


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def documented_operations() -> list[str]:
    """The operations the document lists with every feature on (known at collection time, so
    that each is a test of its own)."""
    from django.conf import settings as django_settings

    with override_settings(KINTO={**django_settings.KINTO, **FEATURES}):
        return sorted(
            f"{method.upper()} {path}"
            for path, item in api_paths().items()
            for method in item
            if method != "parameters"
        )


OPERATIONS = documented_operations()
# The heartbeat checks the backends from threads of their own, which need committed data and,
# on SQLite, no write lock held by the test (these examples run outside any savepoint).
COMMITTED = {"GET /__heartbeat__", "HEAD /__heartbeat__"}


@pytest.fixture
def features(kinto_settings, tmp_path) -> None:
    kinto_settings(**FEATURES, attachment_base_path=str(tmp_path / "attachments"))


@pytest.fixture
def wsgi_app(db: Any, features: None, seeded: dict[str, Any]):
    """The project's WSGI application, inside the test's transaction (as Django's test
    client: a request must not close the connection that holds it). After the seeding: each
    request of Django's test client connects `close_old_connections` again."""
    from django.core.signals import request_finished, request_started

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(api, features) -> dict[str, Any]:
    """An admin account owning a bucket with a collection, a record and a group (so also
    history entries); what the generated requests name most of the time."""
    admin = api.as_user(ADMIN)
    # Admins are named by `account_write_principals`: the operator creates them.
    call_command("kinto_create_account", ADMIN[0], "--password", ADMIN[1])
    assert admin.put("/buckets/b1").status == 201
    assert admin.put("/buckets/b1/collections/c1").status == 201
    assert admin.put("/buckets/b1/groups/g1", {"data": {"members": ["account:admin"]}}).status
    record = admin.put("/buckets/b1/collections/c1/records/r1", {"data": {"n": 1}})
    assert record.status == 201
    return {"timestamp": str(record.data["last_modified"])}


@pytest.fixture
def schema(wsgi_app):
    """The document as the server serves it, fetched through the WSGI application (loaded as
    a dict: `from_wsgi` would leave out `GET /__api__`, the operation that served it)."""
    response = Client(wsgi_app).get("/v1/__api__")
    assert response.status_code == 200
    loaded = schemathesis.openapi.from_dict(response.json)
    loaded.app = wsgi_app
    return loaded


def seeded_value(path: str, name: str, seeds: dict[str, Any]) -> str | None:
    if name == "id":
        plural = re.findall(r"/(\w+)/\{id\}$", path)
        return SEEDED_IDS.get(plural[0]) if plural else None
    if name == "timestamp":
        return seeds["timestamp"]
    return SEEDED.get(name)


def test_every_documented_operation_is_exercised(schema):
    """The parametrized test below covers exactly what the server documents with every
    feature on: an operation added to the document is tested, none is skipped."""
    served = {result.ok().label for result in schema.get_all_operations()}
    assert served == set(OPERATIONS)
    assert len(served) >= 40


@pytest.mark.slow
@pytest.mark.parametrize(
    "label",
    [
        pytest.param(label, marks=[pytest.mark.django_db(transaction=True)])
        if label in COMMITTED
        else label
        for label in OPERATIONS
    ],
)
def test_operation_conforms_to_the_document(label, schema, seeded):
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    statuses: list[int] = []
    # Mostly the owner of the seeded objects, naming them: most requests then get past the
    # permission checks to the behaviour of the operation itself.
    callers = [basic(*ADMIN), basic(*ADMIN), basic("stranger", "pw"), None]

    @settings(
        max_examples=examples(EXAMPLES),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def run(case: Any, data: Any) -> None:
        for name in list(case.path_parameters or {}):
            value = seeded_value(operation.path, name, seeded)
            if value is not None and data.draw(SEEDED_MOSTLY, label=f"seeded {name}"):
                case.path_parameters[name] = value
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        caller = data.draw(st.sampled_from(callers), label="caller")
        if caller:
            headers["Authorization"] = caller
        case.headers = headers
        if label in COMMITTED:
            response = case.call_and_validate(checks=CHECKS)
        else:
            with transaction.atomic():
                response = case.call_and_validate(checks=CHECKS)
                transaction.set_rollback(True)
        statuses.append(response.status_code)

    run()
    assert statuses, label
    if label in REFUSED_THROUGH_WSGI:
        assert set(statuses) == {406}, statuses
        return
    # The operation did its job at least once (on the seeded objects)...
    assert any(200 <= status < 300 for status in statuses), (label, statuses)
    # ... and object endpoints also met missing objects (PUT creates them).
    if label.endswith("/{id}") and not label.startswith("PUT "):
        assert {403, 404} & set(statuses), (label, statuses)
