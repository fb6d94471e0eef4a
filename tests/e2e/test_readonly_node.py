"""A read-only node on a database connection that refuses writes, next to a primary node.

Both are real servers (gunicorn, uvicorn workers) on one PostgreSQL database; the read-only
node (`readonly = true`) connects with `default_transaction_read_only = on`, which refuses
every write as a hot standby does. It starts as `bin/serve` starts it (`migrate`,
`createcachetable`), reports healthy, serves what clients read, keeps its password checks
and failed-login counters off the database, and answers 405 to writes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from kinto_http import Client, KintoException

from tests.e2e.server import START_ATTEMPTS, ServerProcess, is_postgresql

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgresql,
    pytest.mark.skipif(
        not is_postgresql(os.environ.get("KINTO_STORAGE_URL", "")),
        reason="needs PostgreSQL read-only transactions (set KINTO_STORAGE_URL=postgresql://…)",
    ),
]

SETTINGS = {
    "auth_policies": "account basicauth",
    "account_create_principals": "system.Everyone",
    "account_login_max_failures_per_minute": "3",
    "history_enabled": "true",
    "experimental_permissions_endpoint": "true",
    "paginate_by": "3",
    "log_level": "WARNING",
}
ANA = ("ana", "s3cret")
EVE = ("eve", "pw-of-eve")


def read_only(url: str) -> str:
    """The same database, on connections whose transactions are all read-only."""
    options = quote("-c default_transaction_read_only=on")
    return f"{url}{'&' if '?' in url else '?'}options={options}"


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("primary"),
        workers=1,
        threads=2,
        settings=SETTINGS,
        database_suffix="e2e_readonly",
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def replica(primary: ServerProcess, tmp_path_factory: pytest.TempPathFactory):
    node = ServerProcess(
        tmp_path_factory.mktemp("replica"),
        # One process: without a Redis cache_url, each keeps its own failed-login counters.
        workers=1,
        threads=2,
        settings={**SETTINGS, "readonly": "true", "event_dispatcher_in_server": "true"},
    )
    node.database = None  # the primary's, created and dropped by the primary
    node.storage_url = read_only(primary.storage_url)
    # bin/serve's start-up steps succeed against a database that refuses writes.
    node.manage("migrate", "--noinput")
    node.manage("createcachetable")
    try:
        if not any(node.launch() for _ in range(START_ATTEMPTS)):
            pytest.fail(f"The read-only node did not start:\n{node.log_tail()}")
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def shop(primary: ServerProcess) -> dict:
    """Written through the primary: two accounts, a bucket readable by everyone logged in,
    seven records of which one is deleted."""
    for account_id, password in (ANA, EVE):
        signed_up = requests.put(
            f"{primary.url}/accounts/{account_id}",
            json={"data": {"password": password}},
            timeout=30,
        )
        assert signed_up.status_code == 201, signed_up.text
    client = Client(server_url=primary.url, auth=ANA, bucket="shop", collection="orders")
    client.create_bucket(permissions={"read": ["system.Authenticated"]})
    client.create_collection()
    with client.batch() as batch:
        for n in range(7):
            batch.create_record(data={"n": n, "item": "lamp" if n % 2 else "desk"})
    client.create_record(id="gone", data={})
    client.delete_record(id="gone")
    return {"records": client.get_records(_since=0)}


def test_a_readonly_node_serves_reads_from_a_database_that_refuses_writes(primary, replica, shop):
    heartbeat = requests.get(f"{replica.url}/__heartbeat__", timeout=30)
    assert (heartbeat.status_code, heartbeat.json()) == (
        200,
        {"storage": True, "permission": True, "cache": True},
    )
    assert requests.get(f"{replica.url}/__lbheartbeat__", timeout=30).status_code == 200

    ana = Client(server_url=replica.url, auth=ANA, bucket="shop", collection="orders")
    info = ana.server_info()
    assert info["settings"]["readonly"] is True
    assert info["user"]["id"] == "account:ana"

    # A full sync (kinto-http follows Next-Page: 3 pages) sees what the primary wrote.
    assert ana.get_records(_since=0) == shop["records"]
    assert ana.get_records(item="lamp", _sort="n", _fields="n") == [
        {"id": r["id"], "last_modified": r["last_modified"], "n": r["n"]}
        for r in sorted(shop["records"], key=lambda r: r.get("n", -1))
        if r.get("item") == "lamp"
    ]
    assert ana.get_bucket()["data"]["id"] == "shop"
    assert {e["action"] for e in ana.get_history()} == {"create", "delete"}

    # A basicauth user reads through the bucket's ACL; ETags answer 304.
    bob = requests.Session()
    bob.auth = ("bob", "secret")
    records_url = f"{replica.url}/buckets/shop/collections/orders/records"
    listed = bob.get(records_url, timeout=30)
    assert listed.status_code == 200
    unchanged = bob.get(records_url, headers={"If-None-Match": listed.headers["ETag"]}, timeout=30)
    assert unchanged.status_code == 304
    permissions = bob.get(f"{replica.url}/permissions", timeout=30)
    assert permissions.status_code == 200

    # Failed logins are counted by the node's process: after three, the right password is
    # refused within the minute (on the database cache, the counter could not be kept).
    for _ in range(3):
        wrong = requests.get(f"{replica.url}/accounts/eve", auth=("eve", "wrong"), timeout=30)
        assert wrong.status_code == 403  # a basicauth user, not the account
    refused = Client(server_url=replica.url, auth=EVE).server_info()
    assert refused["user"]["id"].startswith("basicauth:")

    # Writes answer 405 errno 115; a batch too.
    with pytest.raises(KintoException) as error:
        ana.create_record(data={"n": 99})
    assert error.value.response.status_code == 405
    batch = requests.post(
        f"{replica.url}/batch",
        json={"requests": [{"method": "GET", "path": "/buckets/shop"}]},
        auth=ANA,
        timeout=30,
    )
    assert (batch.status_code, batch.json()["errno"]) == (405, 115)

    # The primary kept serving writes meanwhile, and they show up on the read-only node.
    writer = Client(server_url=primary.url, auth=ANA, bucket="shop", collection="orders")
    created = writer.create_record(id=f"r-{uuid.uuid4().hex[:8]}", data={"n": 100})
    assert (
        requests.get(
            f"{records_url}/{created['data']['id']}", auth=("bob", "secret"), timeout=30
        ).status_code
        == 200
    )
