"""A read-only node on a database connection that refuses writes, next to a primary node.

Both are real servers (gunicorn, uvicorn workers) on one PostgreSQL database; the read-only
node (`readonly = true`) connects with `default_transaction_read_only = on`, which refuses
every write as a hot standby does. It starts as `bin/serve` starts it (`migrate`,
`createcachetable`), reports healthy, serves what clients read, keeps its password checks
and failed-login counters off the database, and answers 405 to writes.

Then the real thing: a PostgreSQL primary and its streaming replica (`pg_basebackup -R`),
made for the test in a temporary directory, with a read-only node on the replica.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from kinto_http import Client, KintoException

from tests.e2e.server import START_ATTEMPTS, ServerProcess, free_port, is_postgresql

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
    with process:
        yield process


def start_readonly_node(workdir: Path, storage_url: str) -> ServerProcess:
    """A read-only node on `storage_url`, a database it must not create, drop or write."""
    node = ServerProcess(
        workdir,
        # One process: without a Redis cache_url, each keeps its own failed-login counters.
        workers=1,
        threads=2,
        settings={**SETTINGS, "readonly": "true", "event_dispatcher_in_server": "true"},
    )
    node.database = None
    node.storage_url = storage_url
    # bin/serve's start-up steps succeed against a database that refuses writes.
    node.manage("migrate", "--noinput")
    node.manage("createcachetable")
    if not any(node.launch() for _ in range(START_ATTEMPTS)):
        node.stop()
        pytest.fail(f"The read-only node did not start:\n{node.log_tail()}")
    return node


@pytest.fixture(scope="module")
def replica(primary: ServerProcess, tmp_path_factory: pytest.TempPathFactory):
    node = start_readonly_node(tmp_path_factory.mktemp("replica"), read_only(primary.storage_url))
    try:
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
        {"storage": True, "permission": True, "cache": True, "attachments": True},
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


# --- a real streaming replica ----------------------------------------------------------------


def postgresql_programs() -> tuple[Path, list[str]]:
    """Where initdb, pg_ctl and pg_basebackup are, and the prefix that runs them as a user
    PostgreSQL accepts (it refuses root); skips the test when either is missing."""
    pg_config = shutil.which("pg_config")
    bindir = Path(
        subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if pg_config
        else ""
    )
    if not all((bindir / name).exists() for name in ("initdb", "pg_ctl", "pg_basebackup")):
        pytest.skip("a streaming replica needs initdb, pg_ctl and pg_basebackup (pg_config)")
    if os.geteuid() != 0:
        return bindir, []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root, and no `postgres` user to run a cluster as")
    if shutil.which("runuser") is None:
        pytest.skip("running as root, and no runuser to run a cluster as `postgres`")
    return bindir, ["runuser", "-u", "postgres", "--"]


class StreamingReplica:
    """A primary cluster and its hot standby, in a temporary directory, on local ports."""

    def __init__(self) -> None:
        self.bindir, self.prefix = postgresql_programs()
        self.workdir = Path(tempfile.mkdtemp(prefix="kinto-replica-"))
        if self.prefix:
            shutil.chown(self.workdir, "postgres")
        self.started: list[Path] = []
        self.ports: dict[str, int] = {}

    def run(self, program: str, *args: str) -> None:
        command = [*self.prefix, str(self.bindir / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            self.stop()
            pytest.skip(f"cannot set up a streaming replica: {program}: {result.stderr[-500:]}")

    def start_cluster(self, name: str, *options: str) -> None:
        port = self.ports[name] = free_port(range(55400, 55500))
        data = self.workdir / name
        settings = f"-p {port} -k {self.workdir} -c listen_addresses=127.0.0.1 {' '.join(options)}"
        self.run("pg_ctl", "-D", str(data), "-o", settings, "-l", f"{data}.log", "-w", "start")
        self.started.append(data)

    def start(self) -> None:
        self.run("initdb", "-D", str(self.workdir / "primary"), "-U", "postgres", "-A", "trust")
        self.start_cluster("primary", "-c fsync=off")
        self.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.ports["primary"]),
            "-U", "postgres", "-D", str(self.workdir / "standby"), "-R", "-X", "stream",
        )  # fmt: skip
        self.start_cluster("standby", "-c hot_standby_feedback=on")

    def url(self, name: str, database: str = "kinto") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports[name]}/{database}"

    def stop(self) -> None:
        for data in reversed(self.started):
            subprocess.run(
                [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                capture_output=True,
                timeout=60,
            )
        self.started.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def streaming(tmp_path_factory: pytest.TempPathFactory):
    """A primary node on a new cluster, and a read-only node on that cluster's hot standby."""
    clusters = StreamingReplica()
    try:
        clusters.start()
        primary = ServerProcess(
            tmp_path_factory.mktemp("stream-primary"),
            clusters.url("primary"),
            workers=1,
            threads=2,
            settings=SETTINGS,
            database_suffix="e2e_stream",
        )
        try:
            primary.start()
            assert primary.database is not None
            node = start_readonly_node(
                tmp_path_factory.mktemp("stream-replica"),
                clusters.url("standby", primary.database.name),
            )
            try:
                yield clusters, primary, node
            finally:
                node.stop()
        finally:
            primary.stop()
    finally:
        clusters.stop()


def test_a_readonly_node_on_a_streaming_replica(streaming):
    import psycopg2

    clusters, primary, node = streaming
    with psycopg2.connect(clusters.url("standby", "postgres")) as standby:
        with standby.cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            assert cursor.fetchone() == (True,)

    signed_up = requests.put(
        f"{primary.url}/accounts/ana", json={"data": {"password": ANA[1]}}, timeout=30
    )
    assert signed_up.status_code == 201, signed_up.text
    writer = Client(server_url=primary.url, auth=ANA, bucket="shop", collection="orders")
    writer.create_bucket()
    writer.create_collection()
    for n in range(5):
        writer.create_record(id=f"r{n}", data={"n": n})
    written = writer.get_records(_since=0)

    reader = Client(server_url=node.url, auth=ANA, bucket="shop", collection="orders")
    deadline = time.monotonic() + 30
    while True:  # replication is asynchronous: wait until the standby has replayed the writes
        try:
            if reader.get_records(_since=0) == written:
                break
        except KintoException:
            pass
        assert time.monotonic() < deadline, "the standby did not catch up within 30 s"
        time.sleep(0.2)

    heartbeat = requests.get(f"{node.url}/__heartbeat__", timeout=30)
    assert (heartbeat.status_code, heartbeat.json()) == (
        200,
        {"storage": True, "permission": True, "cache": True, "attachments": True},
    )
    assert reader.server_info()["user"]["id"] == "account:ana"
    assert reader.get_record(id="r3")["data"]["n"] == 3
    assert [r["id"] for r in reader.get_records(_sort="n", _fields="n")] == [
        f"r{n}" for n in range(5)
    ]
    with pytest.raises(KintoException) as error:
        reader.create_record(id="r9", data={})
    assert error.value.response.status_code == 405
