"""Sharing through the official `kinto-http` client against the real server (gunicorn).

An app developer's path: accounts sign up anonymously (`PUT /accounts/<id>`) and log in with
Basic `id:password`; one account shares collections with another directly (`account:<id>`),
through groups (`/buckets/<bid>/groups/<gid>`, `system.Authenticated` members included) and in
a batch; `GET /permissions` tells each account what is shared with it; `bucket="default"` is
each account's own bucket. kinto-http 11 has no accounts API, so accounts go through
`client.session.request`, as apps using it do.

The server of this module has the `account` policy only (no `basicauth` fallback), open
sign-up, the permissions endpoint and the default bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from kinto_http import Client, KintoException
from kinto_http.patch_type import JSONPatch
from requests.auth import AuthBase, HTTPBasicAuth

from tests.e2e.server import PostgresDatabase, ServerProcess

pytestmark = pytest.mark.e2e

DEFAULT_BUCKET_SECRET = "e2e-sharing-salt"
SETTINGS = {
    "auth_policies": "account",
    "account_create_principals": "system.Everyone",
    "bucket_create_principals": "system.Authenticated",
    "experimental_permissions_endpoint": "true",
    "default_bucket_enabled": "true",
    "default_bucket_hmac_secret": DEFAULT_BUCKET_SECRET,
    "log_level": "WARNING",
}
# spec/04: what each ACL implies on the same object, as listed by `GET /permissions`.
BUCKET_WRITE = {"write", "read", "read:attributes", "collection:create", "group:create"}
COLLECTION_WRITE = {"write", "read", "read:attributes", "record:create"}
READ = {"read", "read:attributes"}


# --- Fixtures and helpers ---------------------------------------------------------------


def own_database(process: ServerProcess, suffix: str) -> ServerProcess:
    """On PostgreSQL, a database of the process's own, next to the session server's (whose
    start-up drops and recreates the default `<db>_e2e`)."""
    if process.database is not None:
        process.database = PostgresDatabase(os.environ["KINTO_STORAGE_URL"], suffix=suffix)
        process.storage_url = process.database.url
    return process


def start_own(process: ServerProcess, attempts: int = 5) -> ServerProcess:
    """Start the server and make sure its port answers with *this* server.

    `free_port()` releases the port it probed before gunicorn binds it: two xdist workers
    starting servers at the same moment may pick the same port, and the health check of the
    one whose gunicorn failed to bind is then answered by the other's server (another
    database: its clients would see the wrong data). A unique `project_name` tells them apart.
    """
    for _ in range(attempts):
        process.settings["project_name"] = f"kinto-e2e-{uuid.uuid4().hex}"
        process.start()
        root = requests.get(f"{process.url}/", timeout=10).json()
        if root.get("project_name") == process.settings["project_name"]:
            return process
        process.stop()
    raise RuntimeError(f"No port of our own after {attempts} attempts")


@pytest.fixture(scope="module")
def sharing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with accounts, the permissions endpoint and the default bucket."""
    process = ServerProcess(
        tmp_path_factory.mktemp("sharing-server"), workers=2, threads=4, settings=dict(SETTINGS)
    )
    own_database(process, "e2e_sharing")
    try:
        start_own(process)
        yield process
    finally:
        process.stop()


@dataclass
class Exchange:
    method: str
    url: str
    status: int
    body: str


@dataclass
class Traffic:
    """Every response the clients of a test received (through their `auth` hook)."""

    exchanges: list[Exchange] = field(default_factory=list)

    def auth(self, account_id: str | None = None, password: str | None = None) -> AuthBase:
        return RecordingAuth(self, account_id, password)

    @property
    def last(self) -> Exchange:
        return self.exchanges[-1]


class RecordingAuth(AuthBase):
    """Basic credentials (none when anonymous) that also record each response."""

    def __init__(self, traffic: Traffic, account_id: str | None, password: str | None) -> None:
        self.traffic = traffic
        self.basic = HTTPBasicAuth(account_id, password) if account_id is not None else None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.basic is not None:
            request = self.basic(request)
        request.register_hook("response", self._record)
        return request

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.traffic.exchanges.append(
            Exchange(response.request.method, response.url, response.status_code, response.text)
        )


@dataclass
class Account:
    id: str
    password: str

    @property
    def principal(self) -> str:
        return f"account:{self.id}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def status_of(error: KintoException) -> int:
    return error.response.status_code


def refused(call, *args: Any, **kwargs: Any) -> int:
    """The status of a request the server must refuse."""
    with pytest.raises(KintoException) as error:
        call(*args, **kwargs)
    return status_of(error.value)


def anonymous(server: ServerProcess, traffic: Traffic | None = None, **kwargs: Any) -> Client:
    auth = (traffic or Traffic()).auth()
    return Client(server_url=server.url, auth=auth, **kwargs)


def logged_in(
    server: ServerProcess, account: Account, traffic: Traffic | None = None, **kwargs: Any
) -> Client:
    auth = (traffic or Traffic()).auth(account.id, account.password)
    return Client(server_url=server.url, auth=auth, **kwargs)


def sign_up(server: ServerProcess, prefix: str, traffic: Traffic | None = None) -> Account:
    account = Account(unique(prefix), f"pw {uuid.uuid4().hex}")
    body, _ = anonymous(server, traffic).session.request(
        "put", f"/accounts/{account.id}", data={"password": account.password}
    )
    assert body["data"]["id"] == account.id
    return account


def whoami(client: Client) -> dict[str, Any] | None:
    """The `user` of `GET /` (not cached, unlike `server_info()`)."""
    body, _ = client.session.request("get", "/")
    return body.get("user")


def default_bucket_id(user_id: str, secret: str = DEFAULT_BUCKET_SECRET) -> str:
    """spec/07: the first 32 hex chars of HMAC-SHA256(secret, user id), as a UUID."""
    digest = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()[:32]
    return str(uuid.UUID(digest))


def stored_password(server: ServerProcess, account_id: str) -> str:
    """The hash the server keeps for an account (read from its database)."""
    query = "SELECT data FROM kinto_accounts_account WHERE object_id = %s AND NOT deleted"
    if server.database is not None:
        import psycopg2

        connection = psycopg2.connect(server.storage_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(query, (account_id,))
                (data,) = cursor.fetchone()
        finally:
            connection.close()
    else:
        path = urlsplit(server.storage_url).path
        connection = sqlite3.connect(path)
        try:
            (data,) = connection.execute(query.replace("%s", "?"), (account_id,)).fetchone()
        finally:
            connection.close()
    if isinstance(data, str):
        data = json.loads(data)
    return data["password"]


def shared_bucket(server: ServerProcess, owner: Account, collection: str = "notes") -> Client:
    """A client of `owner` on a new bucket of its own with one collection and three records."""
    bucket = unique("b")
    client = logged_in(server, owner, bucket=bucket, collection=collection)
    client.create_bucket(id=bucket)
    client.create_collection(id=collection)
    with client.batch() as batch:
        for index in range(3):
            batch.create_record(id=f"r{index}", data={"n": index})
    return client


def ids(records: list[dict[str, Any]]) -> list[str]:
    return sorted(record["id"] for record in records)


# --- 1. Accounts: sign-up, login, password change, deletion -------------------------------


def test_default_bucket_id_matches_the_spec_example():
    # Guards the helper the default-bucket assertions rely on.
    assert default_bucket_id("account:bob", "my-salt") == "4b96f60e-65eb-3415-e86f-91aba9d95181"


def test_sign_up_log_in_change_password_and_delete(sharing_server):
    traffic = Traffic()
    account_id = unique("ana")
    first, second = f"first {uuid.uuid4().hex}", f"second {uuid.uuid4().hex}"
    principal = f"account:{account_id}"
    url = f"/accounts/{account_id}"

    guest = anonymous(sharing_server, traffic)
    info = guest.server_info()
    assert "accounts" in info["capabilities"]
    assert "basicauth" not in info["capabilities"]
    assert "user" not in info

    # Sign-up: an anonymous PUT.
    created, _ = guest.session.request("put", url, data={"password": first})
    assert traffic.last.status == 201
    assert created["data"]["id"] == account_id
    first_digest = created["data"]["password"]
    assert first_digest not in (first, "")
    # The same name cannot be taken twice by an anonymous caller.
    assert refused(guest.session.request, "put", url, data={"password": "x"}) == 401
    assert refused(guest.session.request, "get", url) == 401

    # Login.
    ana = logged_in(sharing_server, Account(account_id, first), traffic)
    user = ana.server_info()["user"]
    assert user["id"] == principal
    assert user["principals"][0] == principal
    assert {"system.Everyone", "system.Authenticated"} <= set(user["principals"])
    assert user["bucket"] == default_bucket_id(principal)
    own, _ = ana.session.request("get", url)
    assert own["data"] == {**created["data"], "last_modified": own["data"]["last_modified"]}
    assert own["permissions"] == {"write": [principal]}
    listed, _ = ana.session.request("get", "/accounts")
    assert [account["id"] for account in listed["data"]] == [account_id]

    # A wrong password is no login: protected requests are 401, `GET /` has no user.
    intruder = logged_in(sharing_server, Account(account_id, "not the password"), traffic)
    assert whoami(intruder) is None
    assert refused(intruder.session.request, "get", url) == 401
    assert refused(intruder.create_bucket, id=unique("b")) == 401
    # …and it does not disturb the real owner.
    assert whoami(ana)["id"] == principal

    # Metadata only: the password (and its digest) stay.
    patched, _ = ana.session.request("patch", url, data={"nickname": "Ana"})
    assert patched["data"]["nickname"] == "Ana"
    assert patched["data"]["password"] == first_digest
    assert whoami(ana)["id"] == principal
    hash_before = stored_password(sharing_server, account_id)

    # The account changes its own password: the old one stops working at once.
    changed, _ = ana.session.request("patch", url, data={"password": second})
    second_digest = changed["data"]["password"]
    assert second_digest not in (first_digest, first, second)
    assert changed["data"]["nickname"] == "Ana"
    hash_after = stored_password(sharing_server, account_id)
    assert hash_after != hash_before
    assert whoami(ana) is None
    assert refused(ana.session.request, "get", url) == 401
    ana = logged_in(sharing_server, Account(account_id, second), traffic)
    assert whoami(ana)["id"] == principal
    fetched, _ = ana.session.request("get", url)
    assert fetched["data"]["password"] == second_digest
    assert refused(ana.session.request, "put", url, data={"password": ""}) == 400

    # Deletion: a tombstone, and the credentials are invalid immediately.
    deleted, _ = ana.session.request("delete", url)
    assert traffic.last.status == 200
    assert deleted["data"]["id"] == account_id
    assert deleted["data"]["deleted"] is True
    assert "password" not in deleted["data"]
    assert whoami(ana) is None
    assert refused(ana.session.request, "get", url) == 401
    assert refused(ana.create_bucket, id=unique("b")) == 401

    # No response ever carried a stored hash or a clear-text password.
    assert len(traffic.exchanges) >= 20
    for exchange in traffic.exchanges:
        for secret in (hash_before, hash_after, first, second):
            assert secret not in exchange.body, (exchange.method, exchange.url)
        assert "$argon2" not in exchange.body
        assert "pbkdf2_sha256$" not in exchange.body


def test_sign_up_response_shows_the_new_account_acl(sharing_server):
    traffic = Traffic()
    account_id = unique("ana")
    created, _ = anonymous(sharing_server, traffic).session.request(
        "put", f"/accounts/{account_id}", data={"password": "secret"}
    )
    assert traffic.last.status == 201
    assert created["data"]["id"] == account_id
    # spec/05 example: the creation response carries `write: ["account:<id>"]` (the account
    # is its own author, as if it had created itself).
    assert created["permissions"] == {"write": [f"account:{account_id}"]}


def test_an_account_cannot_be_created_for_someone_else(sharing_server):
    ana = sign_up(sharing_server, "ana")
    client = logged_in(sharing_server, ana)
    other = unique("other")
    error = refused(client.session.request, "put", f"/accounts/{other}", data={"password": "x"})
    assert error == 400
    assert refused(client.session.request, "get", f"/accounts/{other}") == 403
    # Nobody signed up as `other`.
    assert whoami(logged_in(sharing_server, Account(other, "x"))) is None


# --- 2. Sharing a collection with another account ------------------------------------------


def test_share_a_collection_read_then_write_then_revoke(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    owner = shared_bucket(sharing_server, alice)
    bucket, collection = owner.bucket_name, owner.collection_name
    reader = logged_in(sharing_server, bob, bucket=bucket, collection=collection)

    # Nothing shared yet.
    assert refused(reader.get_records) == 403
    assert refused(reader.get_record, id="r0") == 403
    assert refused(reader.get_collection) == 403
    assert refused(reader.get_bucket) == 403

    # Read access to the collection.
    shared = owner.patch_collection(id=collection, permissions={"read": [bob.principal]})
    assert shared["permissions"] == {"read": [bob.principal], "write": [alice.principal]}
    assert ids(reader.get_records()) == ["r0", "r1", "r2"]
    record = reader.get_record(id="r1")
    assert record["data"]["n"] == 1
    assert record["permissions"] == {}  # bob is not in the record's own write ACL
    assert reader.get_collection()["permissions"] == {}
    # Read on the collection is not read on the bucket, nor on the other collections.
    assert refused(reader.get_bucket) == 403
    owner.create_collection(id="private")
    assert refused(reader.get_records, collection="private") == 403
    # …and it is no write access.
    assert refused(reader.create_record, data={"n": 9}) == 403
    assert refused(reader.patch_record, id="r1", data={"n": 10}) == 403
    assert refused(reader.delete_record, id="r2") == 403
    assert refused(reader.patch_collection, id=collection, data={"title": "mine"}) == 403
    assert refused(reader.patch_record, id="absent", data={"n": 1}) == 404

    # Write access, added with a JSON-Patch operation on the ACL.
    grant = JSONPatch([{"op": "add", "path": f"/permissions/write/{bob.principal}"}])
    granted = owner.patch_collection(id=collection, changes=grant)
    assert sorted(granted["permissions"]["write"]) == sorted([alice.principal, bob.principal])
    assert granted["permissions"]["read"] == [bob.principal]
    updated = reader.patch_record(id="r1", data={"n": 10})
    assert updated["data"]["n"] == 10
    # The writer joins the record's write ACL, so bob now sees its ACLs.
    assert sorted(updated["permissions"]["write"]) == sorted([alice.principal, bob.principal])
    created = reader.create_record(id="from-bob", data={"n": 20})
    assert created["permissions"] == {"write": [bob.principal]}
    assert owner.get_record(id="r1")["data"]["n"] == 10
    assert owner.get_record(id="from-bob")["data"]["n"] == 20
    assert reader.get_collection()["permissions"] == granted["permissions"]

    # Revoking both: only what bob holds on records themselves (as their writer) remains.
    revoke = JSONPatch(
        [
            {"op": "remove", "path": f"/permissions/read/{bob.principal}"},
            {"op": "remove", "path": f"/permissions/write/{bob.principal}"},
        ]
    )
    revoked = owner.patch_collection(id=collection, changes=revoke)
    assert revoked["permissions"] == {"write": [alice.principal]}
    assert refused(reader.get_collection) == 403
    assert refused(reader.get_record, id="r0") == 403
    assert refused(reader.patch_record, id="r2", data={"n": 0}) == 403
    assert refused(reader.create_record, data={"n": 30}) == 403
    assert ids(reader.get_records()) == ["from-bob", "r1"]
    assert ids(owner.get_records()) == ["from-bob", "r0", "r1", "r2"]


def test_share_a_single_record(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    owner = shared_bucket(sharing_server, alice)
    reader = logged_in(
        sharing_server, bob, bucket=owner.bucket_name, collection=owner.collection_name
    )
    owner.patch_record(id="r2", permissions={"read": [bob.principal]})
    assert reader.get_record(id="r2")["data"]["n"] == 2
    assert refused(reader.get_record, id="r0") == 403
    # The list is restricted to what bob may read one by one.
    assert ids(reader.get_records()) == ["r2"]
    assert refused(reader.patch_record, id="r2", data={"n": 0}) == 403
    assert refused(reader.get_collection) == 403


def test_a_deleted_account_leaves_no_grants_behind(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    owner = shared_bucket(sharing_server, alice)
    bucket = owner.bucket_name
    group_uri = f"/buckets/{bucket}/groups/friends"
    owner.create_group(id="friends", data={"members": [bob.principal, "someone-else"]})
    owner.patch_collection(id="notes", permissions={"read": [bob.principal]})
    reader = logged_in(sharing_server, bob, bucket=bucket, collection="notes")
    assert ids(reader.get_records()) == ["r0", "r1", "r2"]
    assert group_uri in whoami(reader)["principals"]

    reader.session.request("delete", f"/accounts/{bob.id}")
    assert owner.get_collection()["permissions"] == {"write": [alice.principal]}

    # Whoever signs up under the same name later inherits nothing.
    anonymous(sharing_server).session.request(
        "put", f"/accounts/{bob.id}", data={"password": bob.password}
    )
    newcomer = logged_in(sharing_server, bob, bucket=bucket, collection="notes")
    assert whoami(newcomer)["principals"][0] == bob.principal
    assert group_uri not in whoami(newcomer)["principals"]
    assert refused(newcomer.get_records) == 403


def test_a_deleted_account_does_not_come_back_into_its_groups(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    owner = logged_in(sharing_server, alice, bucket=unique("b"))
    owner.create_bucket(id=owner.bucket_name)
    group_uri = f"/buckets/{owner.bucket_name}/groups/friends"
    owner.create_group(id="friends", data={"members": [bob.principal, "someone-else"]})
    logged_in(sharing_server, bob).session.request("delete", f"/accounts/{bob.id}")
    anonymous(sharing_server).session.request(
        "put", f"/accounts/{bob.id}", data={"password": bob.password}
    )
    newcomer = logged_in(sharing_server, bob)
    assert group_uri not in whoami(newcomer)["principals"]

    # The group's owner edits something unrelated to its members.
    owner.patch_group(id="friends", data={"title": "Friends"})
    # README: deleting an account removes its group memberships, so a later sign-up under
    # the same name inherits nothing.
    assert group_uri not in whoami(newcomer)["principals"]
    assert owner.get_group(id="friends")["data"]["members"] == ["someone-else"]


# --- 3. Groups ----------------------------------------------------------------------------


def test_share_through_a_group_and_remove_the_member(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    owner = shared_bucket(sharing_server, alice)
    bucket, collection = owner.bucket_name, owner.collection_name
    group_uri = f"/buckets/{bucket}/groups/readers"
    reader = logged_in(sharing_server, bob, bucket=bucket, collection=collection)

    group = owner.create_group(id="readers", data={"members": [bob.principal]})
    assert group["data"]["members"] == [bob.principal]
    assert group["permissions"] == {"write": [alice.principal]}
    # Membership alone grants nothing yet, and does not let bob read the group.
    assert group_uri in whoami(reader)["principals"]
    assert refused(reader.get_records) == 403
    assert refused(reader.get_group, id="readers") == 403

    owner.patch_collection(id=collection, permissions={"read": [group_uri]})
    assert ids(reader.get_records()) == ["r0", "r1", "r2"]
    assert reader.get_record(id="r0")["data"]["n"] == 0
    assert refused(reader.create_record, data={"n": 3}) == 403

    # Granting write to the group lets members write.
    owner.patch_collection(id=collection, permissions={"write": [group_uri]})
    assert reader.patch_record(id="r0", data={"n": 100})["data"]["n"] == 100

    # Removed from the group: denied on the very next request.
    owner.patch_group(id="readers", data={"members": []})
    assert group_uri not in whoami(reader)["principals"]
    assert refused(reader.get_collection) == 403
    assert refused(reader.get_record, id="r1") == 403
    assert refused(reader.create_record, data={"n": 4}) == 403
    # r0 keeps bob in its own write ACL (he wrote it); the rest is gone.
    assert ids(reader.get_records()) == ["r0"]

    # Back in the group, then the group is deleted: denied again.
    owner.patch_group(id="readers", data={"members": [bob.principal]})
    assert ids(reader.get_records()) == ["r0", "r1", "r2"]
    owner.delete_group(id="readers")
    assert group_uri not in whoami(reader)["principals"]
    assert refused(reader.get_record, id="r1") == 403


def test_group_of_a_bucket_used_in_another_bucket(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    teams = logged_in(sharing_server, alice, bucket=unique("teams"))
    teams.create_bucket(id=teams.bucket_name)
    teams.create_group(id="staff", data={"members": [bob.principal]})
    group_uri = f"/buckets/{teams.bucket_name}/groups/staff"

    owner = shared_bucket(sharing_server, alice)
    owner.patch_bucket(id=owner.bucket_name, permissions={"read": [group_uri]})
    reader = logged_in(sharing_server, bob, bucket=owner.bucket_name, collection="notes")
    assert reader.get_bucket()["data"]["id"] == owner.bucket_name
    assert [c["id"] for c in reader.get_collections()] == ["notes"]
    assert ids(reader.get_records()) == ["r0", "r1", "r2"]
    assert refused(reader.create_collection, id="extra") == 403


def test_system_authenticated_as_group_member(sharing_server):
    alice, carol = sign_up(sharing_server, "alice"), sign_up(sharing_server, "carol")
    owner = shared_bucket(sharing_server, alice)
    bucket, collection = owner.bucket_name, owner.collection_name
    group_uri = f"/buckets/{bucket}/groups/logged-in"

    # system.Everyone cannot be a member.
    assert refused(owner.create_group, id="everyone", data={"members": ["system.Everyone"]}) == 400

    owner.create_group(id="logged-in", data={"members": ["system.Authenticated"]})
    owner.patch_collection(id=collection, permissions={"read": [group_uri]})

    # Any account, even one without any other grant, is a member.
    member = logged_in(sharing_server, carol, bucket=bucket, collection=collection)
    assert group_uri in whoami(member)["principals"]
    assert ids(member.get_records()) == ["r0", "r1", "r2"]
    assert refused(member.patch_record, id="r0", data={"n": 1}) == 403
    # Anonymous callers and failed logins are not.
    guest = anonymous(sharing_server, bucket=bucket, collection=collection)
    assert refused(guest.get_records) == 401
    stranger = logged_in(
        sharing_server, Account(carol.id, "wrong"), bucket=bucket, collection=collection
    )
    assert refused(stranger.get_records) == 401

    owner.patch_group(id="logged-in", data={"members": []})
    assert refused(member.get_records) == 403


# --- 4. The permissions endpoint ----------------------------------------------------------


def entry(uri: str, **fields: Any) -> dict[str, Any]:
    permissions = fields.pop("permissions")
    return {"uri": uri, **fields, "permissions": set(permissions)}


def normalized(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries with `permissions` as sets (their order is unspecified), sorted by URI."""
    return sorted(
        ({**item, "permissions": set(item["permissions"])} for item in entries),
        key=lambda item: item["uri"],
    )


def test_permissions_endpoint_lists_what_is_shared(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    # bucket_read: the bucket itself readable by bob.
    read_bucket = shared_bucket(sharing_server, alice)
    read_bucket.patch_bucket(id=read_bucket.bucket_name, permissions={"read": [bob.principal]})
    # bucket_shares: one collection writable by bob, one record readable by bob, one
    # collection readable through a group, and one collection bob may only add records to.
    shares = shared_bucket(sharing_server, alice)
    bid = shares.bucket_name
    shares.patch_collection(id="notes", permissions={"write": [bob.principal]})
    shares.create_collection(id="private")
    shares.create_record(
        collection="private", id="secret", data={}, permissions={"read": [bob.principal]}
    )
    shares.create_record(collection="private", id="hidden", data={})
    shares.create_group(id="team", data={"members": [bob.principal]})
    shares.create_collection(
        id="team-notes", permissions={"read": [f"/buckets/{bid}/groups/team"]}
    )
    shares.create_collection(id="inbox", permissions={"record:create": [bob.principal]})
    # Not shared at all.
    unshared = shared_bucket(sharing_server, alice)

    reader = logged_in(sharing_server, bob)
    assert "permissions_endpoint" in reader.server_info()["capabilities"]
    everything = reader.get_permissions()
    mine = [e for e in everything if e.get("bucket_id") in {read_bucket.bucket_name, bid}]
    assert normalized(mine) == normalized(
        [
            entry(
                f"/buckets/{read_bucket.bucket_name}",
                resource_name="bucket",
                id=read_bucket.bucket_name,
                bucket_id=read_bucket.bucket_name,
                permissions=READ,
            ),
            entry(
                f"/buckets/{bid}/collections/notes",
                resource_name="collection",
                id="notes",
                bucket_id=bid,
                collection_id="notes",
                permissions=COLLECTION_WRITE,
            ),
            entry(
                f"/buckets/{bid}/collections/private/records/secret",
                resource_name="record",
                id="secret",
                bucket_id=bid,
                collection_id="private",
                record_id="secret",
                permissions={"read"},
            ),
            entry(
                f"/buckets/{bid}/collections/team-notes",
                resource_name="collection",
                id="team-notes",
                bucket_id=bid,
                collection_id="team-notes",
                permissions=READ,
            ),
            entry(
                f"/buckets/{bid}/collections/inbox",
                resource_name="collection",
                id="inbox",
                bucket_id=bid,
                collection_id="inbox",
                permissions={"record:create", "read:attributes"},
            ),
        ]
    )
    by_uri = {e["uri"]: e for e in everything}
    # bob's own account, and what he may create.
    assert normalized([by_uri[f"/accounts/{bob.id}"]]) == [
        entry(
            f"/accounts/{bob.id}",
            resource_name="account",
            id=bob.id,
            account_id=bob.id,
            permissions={"write", "read"},
        )
    ]
    assert normalized([by_uri["/"]]) == [
        entry("/", resource_name="root", permissions={"bucket:create", "account:create"})
    ]
    # Nothing from the unshared bucket, nor from objects reachable only by inheritance
    # (the records of a shared collection, the collections of a shared bucket), nor the
    # group bob is only a member of.
    uris = set(by_uri)
    assert not any(unshared.bucket_name in uri for uri in uris)
    assert f"/buckets/{bid}" not in uris
    assert f"/buckets/{bid}/groups/team" not in uris
    assert f"/buckets/{bid}/collections/notes/records/r0" not in uris
    assert f"/buckets/{bid}/collections/private/records/hidden" not in uris
    assert f"/buckets/{read_bucket.bucket_name}/collections/notes" not in uris
    assert not any(e.get("account_id") not in (None, bob.id) for e in everything)
    # Every listed object really is readable by bob.
    for item in everything:
        if item["resource_name"] in {"bucket", "collection", "group", "record"}:
            body, _ = reader.session.request("get", item["uri"])
            assert body["data"]["id"] == item["id"]

    # Filters, as query parameters passed through the client.
    records = reader.get_permissions(params={"resource_name": "record"})
    assert [e["uri"] for e in records] == [f"/buckets/{bid}/collections/private/records/secret"]
    in_bucket = reader.get_permissions(params={"bucket_id": bid, "_sort": "uri"})
    assert [e["uri"] for e in in_bucket] == [
        f"/buckets/{bid}/collections/inbox",
        f"/buckets/{bid}/collections/notes",
        f"/buckets/{bid}/collections/private/records/secret",
        f"/buckets/{bid}/collections/team-notes",
    ]
    without = reader.get_permissions(exclude_resource_names=["root", "account", "record"])
    assert {e["resource_name"] for e in without} <= {"bucket", "collection"}
    assert f"/buckets/{bid}/collections/notes" in {e["uri"] for e in without}
    fields = reader.get_permissions(params={"resource_name": "bucket", "_fields": "uri"})
    # `id` always comes with the requested fields.
    assert fields == [
        {"uri": f"/buckets/{read_bucket.bucket_name}", "id": read_bucket.bucket_name}
    ]

    # The owner sees its own objects with the write permissions expanded.
    owner_entries = {e["uri"]: e for e in read_bucket.get_permissions(params={"bucket_id": bid})}
    assert set(owner_entries[f"/buckets/{bid}"]["permissions"]) == BUCKET_WRITE
    assert set(owner_entries[f"/buckets/{bid}/collections/notes"]["permissions"]) == (
        COLLECTION_WRITE
    )
    assert set(
        owner_entries[f"/buckets/{bid}/collections/private/records/hidden"]["permissions"]
    ) == {
        "write",
        "read",
    }

    # Revoked and removed from the group: gone from bob's list on the next request.
    read_bucket.patch_bucket(id=read_bucket.bucket_name, permissions={"read": []})
    shares.patch_group(id="team", data={"members": []})
    after = {e["uri"] for e in reader.get_permissions()}
    assert f"/buckets/{read_bucket.bucket_name}" not in after
    assert f"/buckets/{bid}/collections/team-notes" not in after
    assert f"/buckets/{bid}/collections/notes" in after

    # Anonymous callers see no private entry.
    public = anonymous(sharing_server).get_permissions()
    assert all(e["resource_name"] == "root" for e in public)


# --- 5. The personal default bucket -------------------------------------------------------


def test_default_bucket_is_personal(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    mine = logged_in(sharing_server, alice, bucket="default", collection="tasks")
    theirs = logged_in(sharing_server, bob, bucket="default", collection="tasks")
    alice_bucket = default_bucket_id(alice.principal)
    bob_bucket = default_bucket_id(bob.principal)
    assert alice_bucket != bob_bucket
    assert "default_bucket" in mine.server_info()["capabilities"]
    assert mine.server_info()["user"]["bucket"] == alice_bucket
    assert theirs.server_info()["user"]["bucket"] == bob_bucket

    # The bucket and the collection are created on first use.
    first = mine.create_record(data={"title": "buy milk"})
    assert first["data"]["title"] == "buy milk"
    second = mine.create_record(id="walk", data={"title": "walk the dog"})
    assert second["data"]["id"] == "walk"
    assert ids(mine.get_records()) == sorted([first["data"]["id"], "walk"])
    bucket = mine.get_bucket()
    assert bucket["data"]["id"] == alice_bucket
    assert bucket["permissions"] == {"write": [alice.principal]}
    assert mine.get_collection()["data"]["id"] == "tasks"

    # bob's default bucket is another one, empty.
    assert theirs.get_records() == []
    theirs.create_record(id="bobs", data={"title": "bob's"})
    assert ids(theirs.get_records()) == ["bobs"]
    assert theirs.get_bucket()["data"]["id"] == bob_bucket
    assert ids(mine.get_records()) == sorted([first["data"]["id"], "walk"])

    # By its real id: the same bucket for alice, off limits for bob until shared.
    real = logged_in(sharing_server, alice, bucket=alice_bucket, collection="tasks")
    assert ids(real.get_records()) == ids(mine.get_records())
    snoop = logged_in(sharing_server, bob, bucket=alice_bucket, collection="tasks")
    assert refused(snoop.get_records) == 403
    mine.patch_collection(id="tasks", permissions={"read": [bob.principal]})
    assert ids(snoop.get_records()) == sorted([first["data"]["id"], "walk"])

    # Anonymous callers have no default bucket.
    guest = anonymous(sharing_server, bucket="default", collection="tasks")
    assert refused(guest.get_records) == 401


# --- 6. Sharing in a batch ----------------------------------------------------------------


def test_batch_shares_and_creates(sharing_server):
    alice, bob = sign_up(sharing_server, "alice"), sign_up(sharing_server, "bob")
    bid = unique("b")
    owner = logged_in(sharing_server, alice, bucket=bid, collection="inbox")
    group_uri = f"/buckets/{bid}/groups/friends"
    with owner.batch() as batch:
        batch.create_bucket(id=bid)
        batch.create_group(id="friends", data={"members": [bob.principal]})
        batch.create_collection(id="inbox", permissions={"read": [bob.principal]})
        batch.create_collection(id="board", permissions={"record:create": [group_uri]})
        for index in range(3):
            batch.create_record(id=f"m{index}", data={"n": index})
        batch.create_collection(id="drafts")
    results = batch.results()
    assert [body["data"]["id"] for body in results] == [
        bid,
        "friends",
        "inbox",
        "board",
        "m0",
        "m1",
        "m2",
        "drafts",
    ]
    assert results[2]["permissions"] == {"read": [bob.principal], "write": [alice.principal]}
    assert results[3]["permissions"] == {"record:create": [group_uri], "write": [alice.principal]}

    reader = logged_in(sharing_server, bob, bucket=bid, collection="inbox")
    assert ids(reader.get_records()) == ["m0", "m1", "m2"]
    assert refused(reader.create_record, data={"n": 3}) == 403
    assert refused(reader.get_records, collection="drafts") == 403
    # Through the group, bob may add to the board and sees only what he added.
    posted = reader.create_record(collection="board", id="hello", data={"text": "hi"})
    assert posted["permissions"] == {"write": [bob.principal]}
    owner.create_record(collection="board", id="rules", data={"text": "be nice"})
    assert ids(reader.get_records(collection="board")) == ["hello"]
    assert ids(owner.get_records(collection="board")) == ["hello", "rules"]

    # bob's own batch: what he may do succeeds, the rest is refused one by one.
    from kinto_http.exceptions import KintoBatchException

    with pytest.raises(KintoBatchException) as failed:
        with reader.batch() as batch:
            batch.create_record(collection="board", id="again", data={})
            batch.create_record(collection="inbox", id="nope", data={})
    assert [status_of(error) for error in failed.value.exceptions] == [403]
    assert ids(owner.get_records(collection="board")) == ["again", "hello", "rules"]
    assert ids(owner.get_records()) == ["m0", "m1", "m2"]


# --- With the basicauth fallback ----------------------------------------------------------


def test_wrong_account_password_falls_back_to_basicauth(tmp_path):
    """spec/05: with `account basicauth`, wrong account credentials are a basicauth user."""
    process = ServerProcess(
        tmp_path,
        workers=1,
        threads=2,
        settings={**SETTINGS, "auth_policies": "account basicauth"},
    )
    own_database(process, "e2e_sharing_fallback")
    try:
        start_own(process)
        alice, bob = sign_up(process, "alice"), sign_up(process, "bob")
        owner = shared_bucket(process, alice)
        owner.patch_collection(id="notes", permissions={"read": [bob.principal]})
        right = logged_in(process, bob, bucket=owner.bucket_name, collection="notes")
        assert whoami(right)["id"] == bob.principal
        assert ids(right.get_records()) == ["r0", "r1", "r2"]

        wrong = logged_in(
            process, Account(bob.id, "wrong"), bucket=owner.bucket_name, collection="notes"
        )
        user = whoami(wrong)
        assert user["id"].startswith("basicauth:")
        assert bob.principal not in user["principals"]
        # Authenticated, but not as bob: 403, not 401.
        assert refused(wrong.get_records) == 403
    finally:
        process.stop()
