"""`manage.py kinto_backup` / `kinto_restore`: the format, exact round trips through a flush,
conflicts, validation of damaged files, and constant work per chunk."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinto_django.core import signals
from kinto_django.core.api.endpoints.flush import flush_everything
from kinto_django.core.backup import dump, kinds, restore
from tests.conftest import Api, examples

ADMIN = ("admin", "admin-pw")
ANA = ("ana", "ana-pw")
ORDERS = "/buckets/shop/collections/orders"


# A data set with every kind of object, ACL and list state --------------------------------

Request = Callable[..., Any]


def create_admin() -> None:
    """The admin account, created by the operator (sign-up refuses the ids that the
    `account_*_principals` settings name)."""
    call_command("kinto_create_account", ADMIN[0], "--password", ADMIN[1])


def build_dataset(request: Request, create_admin: Callable[[], None] = create_admin) -> None:
    """Buckets, collections (schema, cache_expires), groups with members, records with nested
    data and unicode, tombstones of every type, ACLs of every kind, accounts, and lists whose
    timestamp was fixed by a read. `request(method, path, body=None, user=...)` returns the
    status code."""

    def ok(method: str, path: str, body: Any = None, user: Any = "alice") -> None:
        status = request(method, path, body, user)
        assert status in (200, 201), (method, path, status)

    ok("PUT", "/accounts/ana", {"data": {"password": ANA[1], "name": "Ana"}}, user=None)
    create_admin()
    ok("PUT", "/accounts/gone", {"data": {"password": "x"}}, user=None)
    ok("DELETE", "/accounts/gone", user=("gone", "x"))
    ok(
        "PUT",
        "/buckets/shop",
        {
            "data": {"title": "Boutique ✓", "record:schema": {"type": "object"}},
            "permissions": {
                "read": ["system.Everyone"],
                "collection:create": ["account:ana"],
                "group:create": ["system.Authenticated"],
            },
        },
    )
    ok("PUT", "/buckets/shop/groups/staff", {"data": {"members": ["account:ana", "bob"]}})
    ok("PUT", "/buckets/shop/groups/all", {"data": {"members": ["system.Authenticated"]}})
    ok("PUT", "/buckets/shop/groups/team", {"data": {"members": ["account:ana"]}})
    ok("DELETE", "/buckets/shop/groups/team")
    ok(
        "PUT",
        ORDERS,
        {
            "data": {
                "schema": {"type": "object", "properties": {"qty": {"type": "integer"}}},
                "cache_expires": 3600,
                "displayFields": ["item"],
            },
            "permissions": {
                "read": ["/buckets/shop/groups/staff"],
                "record:create": ["system.Authenticated"],
            },
        },
    )
    ok("PUT", "/buckets/shop/collections/old", {"data": {"n": 1}})
    ok("PUT", "/buckets/shop/collections/old/records/r", {"data": {}})
    ok("DELETE", "/buckets/shop/collections/old")
    for n in range(8):
        ok(
            "PUT",
            f"{ORDERS}/records/r{n}",
            {
                "data": {
                    "item": ["lampe", "chaise", "étagère", "桌子"][n % 4],
                    "qty": n,
                    "nested": {"a": [1, {"b": None, "c": [True, 1.5]}], "z": "🎉"},
                    "big": 2**70 + n,
                }
            },
        )
    ok(
        "PUT",
        f"{ORDERS}/records/shared",
        {
            "data": {"item": "vase", "qty": 1},
            "permissions": {"read": ["system.Everyone"], "write": ["account:ana"]},
        },
    )
    ok("POST", f"{ORDERS}/records", {"data": {"item": "posted"}}, user=ANA)
    # A replicated record, with a timestamp forced into the past.
    ok("PUT", f"{ORDERS}/records/old", {"data": {"last_modified": 1_500_000_000_000}})
    for n in (1, 3):
        ok("DELETE", f"{ORDERS}/records/r{n}")
    ok("PUT", "/buckets/empty")
    ok("GET", "/buckets/empty/collections")  # fixes the empty list's timestamp
    ok("PUT", "/buckets/gone")
    ok("PUT", "/buckets/gone/collections/c", {})
    ok("DELETE", "/buckets/gone")
    ok("PUT", "/buckets/ana-bucket", user=ANA)
    ok("PUT", "/buckets/ana-bucket/collections/tasks", user=ANA)
    ok("POST", "/buckets/ana-bucket/collections/tasks/records", {"data": {"t": 1}}, user=ANA)
    ok("GET", "/permissions")  # fixes the permissions endpoint's timestamp


# Requests whose responses must come back byte for byte: (method, path, user).
PROBES: list[tuple[str, str, Any]] = [
    ("GET", "/", ANA),
    ("GET", "/buckets?_since=0", "alice"),
    ("HEAD", "/buckets", "alice"),
    ("GET", "/buckets/shop", "alice"),
    ("GET", "/buckets/shop", None),
    ("GET", "/buckets/empty", "alice"),
    ("GET", "/buckets/empty/collections", "alice"),
    ("GET", "/buckets/shop/collections?_since=0", "alice"),
    ("HEAD", "/buckets/shop/collections", "alice"),
    ("GET", ORDERS, "alice"),
    ("GET", "/buckets/shop/groups?_since=0", "alice"),
    ("GET", "/buckets/shop/groups/staff", "alice"),
    ("GET", "/buckets/shop/groups/all", "alice"),
    ("GET", f"{ORDERS}/records?_since=0", "alice"),
    ("GET", f"{ORDERS}/records?_sort=-qty&_limit=3", "alice"),
    ("HEAD", f"{ORDERS}/records", "alice"),
    ("GET", f"{ORDERS}/records/r0", "alice"),
    ("GET", f"{ORDERS}/records/r2", None),
    ("GET", f"{ORDERS}/records/shared", ANA),
    ("GET", f"{ORDERS}/records/old", "alice"),
    ("GET", f"{ORDERS}/records/r1", "alice"),
    ("GET", f"{ORDERS}/records", ANA),  # through the group `staff`
    ("GET", f"{ORDERS}/records", ("bob-stranger", "pw")),
    ("GET", "/buckets/ana-bucket/collections/tasks/records?_since=0", ANA),
    ("GET", "/accounts", ANA),
    ("GET", "/accounts/ana", ANA),
    ("GET", "/accounts?_since=0", ADMIN),
    ("GET", "/permissions", "alice"),
    ("GET", "/permissions", ANA),
]
COMPARED_HEADERS = (
    "ETag",
    "Last-Modified",
    "Total-Objects",
    "Total-Records",
    "Next-Page",
    "Cache-Control",
)


SERVER_SETTINGS = {
    "auth_policies": "account basicauth",
    "account_create_principals": "system.Everyone",
    "account_write_principals": "account:admin",
    "flush_endpoint_enabled": "true",
    "experimental_permissions_endpoint": "true",
}


@pytest.fixture
def server(api, kinto_settings) -> Api:
    kinto_settings(**SERVER_SETTINGS)
    return api


def api_request(api: Api) -> Request:
    def send(method: str, path: str, body: Any = None, user: Any = "alice") -> int:
        return api.request(method, path, body, user=user).status

    return send


def probe(api: Api) -> list[tuple]:
    """What clients see: status, the protocol headers and the exact body of every probe."""
    seen = []
    for method, path, user in PROBES:
        response = api.request(method, path, user=user)
        headers = tuple(
            without_nonce(response.headers.get(name))
            if name == "Next-Page"
            else response.headers.get(name)
            for name in COMPARED_HEADERS
        )
        seen.append((method, path, response.status, headers, response.content))
    return seen


def assert_same_probes(seen: list[tuple], expected: list[tuple]) -> None:
    """Equal probes, or the first one that differs, shown alone."""
    for now, then in zip(seen, expected, strict=True):
        assert now == then, f"{now[0]} {now[1]}: {now[2:]} != {then[2:]}"


def without_nonce(url: str | None) -> Any:
    """A Next-Page URL with its pagination token decoded, minus the token's random nonce."""
    if url is None:
        return None
    query = dict(parse_qsl(urlsplit(url).query))
    token = json.loads(base64.urlsafe_b64decode(query.pop("_token")))
    token.pop("nonce", None)
    return (urlsplit(url).path, sorted(query.items()), token)


def run_backup(tmp_path: Path, *args: str, name: str = "backup.jsonl") -> Path:
    path = tmp_path / name
    call_command("kinto_backup", "--output", str(path), "--quiet", *args)
    return path


def run_restore(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("kinto_restore", str(path), *args, stdout=out)
    return out.getvalue()


def read_lines(path: Path) -> list[dict]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as stream:
        return [json.loads(line) for line in stream]


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


# Round trips ------------------------------------------------------------------------------


def test_backup_flush_restore_gives_identical_responses(server, tmp_path):
    build_dataset(api_request(server))
    before = probe(server)
    path = run_backup(tmp_path, "--tombstones", "--accounts")

    flush_everything()
    assert server.get("/buckets/shop").status == 403
    output = run_restore(path)

    after = probe(server)
    for expected, got in zip(before, after, strict=True):
        assert got == expected
    assert "created 3 account, 4 bucket" in output
    # Logins and memberships work as before: the hash and the group rows came back.
    assert server.get("/", user=ANA).json["user"]["id"] == "account:ana"
    assert "/buckets/shop/groups/staff" in server.get("/", user=ANA).json["user"]["principals"]


def test_a_backup_of_a_restored_server_is_the_same_file(server, tmp_path):
    build_dataset(api_request(server))
    first = run_backup(tmp_path, "--tombstones", "--accounts", name="first.jsonl")
    flush_everything()
    run_restore(first)
    second = run_backup(tmp_path, "--tombstones", "--accounts", name="second.jsonl")
    assert read_lines(first)[1:] == read_lines(second)[1:]
    assert first.read_bytes().split(b"\n", 1)[1] == second.read_bytes().split(b"\n", 1)[1]


def test_gzip_and_standard_input(server, tmp_path, monkeypatch):
    build_dataset(api_request(server))
    before = probe(server)
    path = run_backup(tmp_path, "--gzip", "--tombstones", "--accounts", name="b.jsonl.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    flush_everything()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    run_restore(Path("-"))
    assert_same_probes(probe(server), before)


def test_restores_send_no_events(server, tmp_path):
    build_dataset(api_request(server))
    path = run_backup(tmp_path, "--tombstones", "--accounts")
    flush_everything()
    received = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.resource_written.connect(receiver)
    try:
        run_restore(path)
    finally:
        signals.resource_written.disconnect(receiver)
    assert received == []


# The format -------------------------------------------------------------------------------


def test_format_header_lines_and_end(server, tmp_path):
    build_dataset(api_request(server))
    lines = read_lines(run_backup(tmp_path, "--tombstones"))
    header, end = lines[0], lines[-1]
    assert header["format"] == "kinto-backup" and header["version"] == 1
    expected = {"buckets": None, "tombstones": True, "accounts": False}
    assert expected.items() <= header["options"].items()  # and one flag per opt-in kind
    assert header["kinds"] == ["bucket", "collection", "group", "record"]
    assert end["kind"] == "end" and end["lines"] == len(lines) - 1
    kinds = [line["kind"] for line in lines[1:-1]]
    assert end["counts"] == {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    record = next(line for line in lines if line.get("id") == "shared")
    assert record == {
        "kind": "record",
        "parents": {"bucket": "shop", "collection": "orders"},
        "id": "shared",
        "last_modified": record["last_modified"],
        "deleted": False,
        "data": {"item": "vase", "qty": 1},
        "permissions": {
            "read": ["system.Everyone"],
            "write": sorted(["account:ana", server.get("/").json["user"]["id"]]),
        },
    }
    r0 = next(line for line in lines if line.get("id") == "r0")
    assert r0["data"]["big"] == 2**70  # integers of any size stay exact
    tombstone = next(line for line in lines if line.get("id") == "r1")
    assert (tombstone["deleted"], tombstone["data"], tombstone["permissions"]) == (True, {}, {})
    lists = [line for line in lines[1:] if line["kind"] == "list"]
    assert {"kind": "list", "resource": "permissions", "parents": {}} in [
        {k: v for k, v in line.items() if k != "last_modified"} for line in lists
    ]
    records_list = server.head(f"{ORDERS}/records").headers["ETag"]
    assert {
        "kind": "list",
        "resource": "record",
        "parents": {"bucket": "shop", "collection": "orders"},
        "last_modified": int(records_list.strip('"')),
    } in lists


def test_tombstones_and_accounts_only_when_asked(server, tmp_path):
    build_dataset(api_request(server))
    lines = read_lines(run_backup(tmp_path))
    assert not any(line.get("deleted") for line in lines)
    assert not any(line["kind"] == "account" for line in lines[1:])
    assert not any(line.get("resource") == "account" for line in lines)
    with_accounts = read_lines(run_backup(tmp_path, "--accounts", name="accounts.jsonl"))
    ana = next(line for line in with_accounts[1:] if line["kind"] == "account")
    assert ana["id"] == "admin" and "argon2" in ana["data"]["password"]


def test_without_tombstones_lists_keep_their_timestamps(server, tmp_path):
    build_dataset(api_request(server))
    before = server.get(f"{ORDERS}/records?_since=0")
    path = run_backup(tmp_path, "--accounts")
    flush_everything()
    run_restore(path)
    after = server.get(f"{ORDERS}/records?_since=0")
    assert after.headers["ETag"] == before.headers["ETag"]
    assert [r for r in before.data if not r.get("deleted")] == after.data


def test_selected_buckets_only(server, tmp_path):
    build_dataset(api_request(server))
    lines = read_lines(run_backup(tmp_path, "--bucket", "empty", "--bucket", "ana-bucket"))
    buckets = {line["id"] for line in lines[1:] if line["kind"] == "bucket"}
    assert buckets == {"empty", "ana-bucket"}
    parents = {line["parents"].get("bucket") for line in lines[1:-1] if line["parents"]}
    assert parents == {"empty", "ana-bucket"}
    assert lines[0]["options"]["buckets"] == ["empty", "ana-bucket"]
    with pytest.raises(CommandError, match="No bucket nope"):
        run_backup(tmp_path, "--bucket", "nope")


def test_a_partial_backup_restores_into_a_server_with_other_buckets(server, tmp_path):
    build_dataset(api_request(server))
    path = run_backup(tmp_path, "--bucket", "shop", "--tombstones")
    before = server.get(f"{ORDERS}/records?_since=0")
    assert server.delete("/buckets/shop").status == 200
    assert server.put("/buckets/shop").status == 201  # a new, empty bucket in its place
    run_restore(path, "--on-conflict", "replace")
    after = server.get(f"{ORDERS}/records?_since=0")
    assert (after.content, after.headers["ETag"]) == (before.content, before.headers["ETag"])
    assert server.get("/buckets/empty").status == 200  # untouched


# Conflicts and idempotence ----------------------------------------------------------------


def test_fail_refuses_and_says_which_objects_exist(server, tmp_path):
    build_dataset(api_request(server))
    path = run_backup(tmp_path, "--tombstones")
    assert server.delete(f"{ORDERS}/records/r0").status == 200
    before = probe(server)
    with pytest.raises(CommandError) as error:
        run_restore(path)
    message = str(error.value)
    assert "objects of the file already exist" in message
    assert "/buckets/shop already exists" in message
    assert "/buckets/gone already exists (as a tombstone)" in message
    assert "Nothing was restored" in message
    assert_same_probes(probe(server), before)  # r0 stays deleted


@pytest.mark.parametrize("mode", ["skip", "replace"])
def test_restoring_twice_changes_nothing_the_second_time(server, tmp_path, mode):
    build_dataset(api_request(server))
    path = run_backup(tmp_path, "--tombstones", "--accounts")
    flush_everything()
    run_restore(path)
    before = probe(server)
    first = run_backup(tmp_path, "--tombstones", "--accounts", name="first.jsonl")
    output = run_restore(path, "--on-conflict", mode)
    assert ("skipped" if mode == "skip" else "replaced") in output
    assert "created" not in output
    assert_same_probes(probe(server), before)
    again = run_backup(tmp_path, "--tombstones", "--accounts", name="again.jsonl")
    assert read_lines(first)[1:] == read_lines(again)[1:]


def test_skip_keeps_stored_objects_and_adds_the_missing_ones(server, tmp_path):
    build_dataset(api_request(server))
    path = run_backup(tmp_path, "--tombstones")
    changed = server.patch(f"{ORDERS}/records/r0", {"data": {"qty": 100}}).json
    assert server.delete(f"{ORDERS}/records/r2").status == 200
    # Gone entirely: as if the collection had been purged, then recreated empty.
    assert server.delete(ORDERS).status == 200
    assert server.put(ORDERS).status == 201
    assert server.put(f"{ORDERS}/records/r0", {"data": changed["data"]}).status == 201
    output = run_restore(path, "--on-conflict", "skip")
    assert "skipped" in output and "created" in output
    assert server.get(f"{ORDERS}/records/r0").data["qty"] == 100
    assert server.get(f"{ORDERS}/records/r2").data["qty"] == 2


def test_replace_overwrites_and_a_tombstone_purges_what_is_below(server, tmp_path):
    build_dataset(api_request(server))
    assert server.delete("/buckets/empty").status == 200
    path = run_backup(tmp_path, "--tombstones")
    assert server.put("/buckets/empty").status == 201
    assert server.put("/buckets/empty/collections/new").status == 201
    assert server.put("/buckets/empty/collections/new/records/x").status == 201
    assert server.put("/buckets/gone", {"data": {"back": True}}).status == 201
    assert server.patch(f"{ORDERS}/records/r0", {"data": {"qty": 100}}).status == 200
    run_restore(path, "--on-conflict", "replace")
    assert server.get(f"{ORDERS}/records/r0").data["qty"] == 0
    assert server.get("/buckets/gone").status == 403  # a tombstone again
    assert server.get("/buckets/empty").status == 403
    assert server.put("/buckets/empty").status == 201
    assert server.get("/buckets/empty/collections").data == []  # purged with its bucket


def test_a_timestamp_taken_by_another_object_is_reported(server, tmp_path):
    build_dataset(api_request(server))
    path = run_backup(tmp_path, "--tombstones")
    r0 = server.get(f"{ORDERS}/records/r0").data
    assert server.delete(f"{ORDERS}/records/r0").status == 200
    # Purge the tombstone so that r0 is new, then give its timestamp to another record.
    call_command("kinto_purge_deleted", "--older-than", "0s", stdout=io.StringIO())
    forced = {"data": {"last_modified": r0["last_modified"]}}
    assert server.put(f"{ORDERS}/records/intruder", forced).status == 201
    with pytest.raises(CommandError) as error:
        run_restore(path, "--on-conflict", "skip")
    message = str(error.value)
    assert f"{ORDERS}/records/r0 has timestamp {r0['last_modified']}" in message
    assert f"{ORDERS}/records/intruder in the database" in message
    assert "Nothing was restored" in message


def test_dry_run_writes_nothing(server, tmp_path):
    build_dataset(api_request(server))
    path = run_backup(tmp_path, "--tombstones", "--accounts")
    flush_everything()
    output = run_restore(path, "--dry-run")
    assert output.startswith(f"Dry run of {path} (nothing was written): would have created")
    assert server.get("/buckets/shop", user=None).status == 401


# Damaged files ----------------------------------------------------------------------------


@pytest.fixture
def good(server, tmp_path) -> list[dict]:
    """A small valid backup's lines, on a server emptied afterwards."""
    server.put("/buckets/b", {"permissions": {"read": ["system.Everyone"]}})
    server.put("/buckets/b/collections/c")
    for record_id in ("r1", "r2"):
        server.put(f"/buckets/b/collections/c/records/{record_id}", {"data": {"n": record_id}})
    lines = read_lines(run_backup(tmp_path))
    flush_everything()
    return lines


def index_of(lines: list[dict], **match: Any) -> int:
    return next(i for i, line in enumerate(lines) if match.items() <= line.items())


def damage(lines: list[dict], change: Callable[[list[Any]], None]) -> list[Any]:
    copy = json.loads(json.dumps(lines))
    change(copy)
    return copy


def set_field(kind: str, name: str, value: Any, **match: Any) -> Callable:
    def change(lines: list[Any]) -> None:
        lines[index_of(lines, kind=kind, **match)][name] = value

    return change


CORRUPTIONS: list[tuple[str, Callable[[list[Any]], None], str]] = [
    ("not json", lambda ls: ls.insert(3, "{oops"), "line 4: not valid JSON"),
    ("not an object", lambda ls: ls.insert(3, "[1]"), "line 4: a line should be a JSON object"),
    ("empty line", lambda ls: ls.insert(2, ""), "line 3: empty line"),
    (
        "wrong format",
        lambda ls: ls[0].update(format="other"),
        'line 1: not a backup: the first line has no "format": "kinto-backup"',
    ),
    (
        "newer version",
        lambda ls: ls[0].update(version=2),
        "line 1: format version 2 is not supported (this server reads 1)",
    ),
    (
        "unknown kind in header",
        lambda ls: ls[0].update(kinds=["bucket", "widget"]),
        "line 1: this server does not store widget objects",
    ),
    ("unknown kind", set_field("bucket", "kind", "widget"), "unknown kind 'widget'"),
    ("truncated", lambda ls: ls.pop(), "ends without its end line (truncated?)"),
    ("truncated mid-list", lambda ls: ls.pop(-2), "the end line counts"),
    ("after the end", lambda ls: ls.append(ls[-2]), "content after the end line"),
    (
        "missing key",
        lambda ls: ls[index_of(ls, kind="record", id="r1")].pop("deleted"),
        'missing "deleted"',
    ),
    ("unknown key", set_field("record", "extra", 1, id="r1"), 'unknown field "extra"'),
    ("bad id", set_field("record", "id", "a b", id="r1"), "invalid record id 'a b'"),
    ("bad parents", set_field("record", "parents", {"bucket": "b"}, id="r1"), '"parents"'),
    (
        "timestamp not an integer",
        set_field("record", "last_modified", "1", id="r1"),
        '"last_modified" should be an integer',
    ),
    (
        "newer than its list",
        set_field("record", "last_modified", 2**62, id="r2"),
        "is newer (4611686018427387904) than its list",
    ),
    (
        "out of order",
        lambda ls: ls.insert(index_of(ls, id="r1"), ls.pop(index_of(ls, id="r2"))),
        "/buckets/b/collections/c/records/r1 is out of order",
    ),
    (
        "duplicate",
        lambda ls: ls.insert(index_of(ls, id="r2"), dict(ls[index_of(ls, id="r1")])),
        "is out of order (ids of one list are sorted, each once)",
    ),
    (
        "no list timestamp",
        lambda ls: ls.pop(index_of(ls, kind="list", resource="record")),
        "no timestamp line of /buckets/b/collections/c/records before it",
    ),
    (
        "unknown parent",
        set_field("collection", "id", "x"),
        "its parent /buckets/b/collections/c is neither earlier in the file nor in the database",
    ),
    (
        "tombstone with data",
        lambda ls: ls[index_of(ls, id="r1")].update(deleted=True),
        "a tombstone has empty data and no permissions",
    ),
    (
        "unknown permission",
        set_field("bucket", "permissions", {"delete": ["x"]}),
        "unknown permission 'delete'",
    ),
    (
        "principals not a list",
        set_field("bucket", "permissions", {"read": "system.Everyone"}),
        '"permissions.read" should be a list of principals',
    ),
    (
        "data not an object",
        set_field("record", "data", [1], id="r1"),
        '"data" should be an object',
    ),
    (
        "unstorable character",
        set_field("record", "data", {"a": "\u0000"}, id="r1"),
        "Invalid character 0x00",
    ),
    (
        "invalid collection data",
        set_field("collection", "data", {"cache_expires": "soon"}),
        "collection 'c': data.cache_expires in body",
    ),
    (
        "second list timestamp",
        lambda ls: ls.insert(2, ls[1]),
        "a second timestamp for the same list",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"),
    [pytest.param(change, message, id=name) for name, change, message in CORRUPTIONS],
)
def test_damaged_files_are_refused_at_their_first_bad_line(good, tmp_path, change, message):
    path = write_lines(tmp_path / "damaged.jsonl", damage(good, change))
    with pytest.raises(CommandError) as error:
        run_restore(path)
    assert message in str(error.value)
    assert str(error.value).endswith("Nothing was restored.")
    assert stored("bucket").count() == 0


def stored(kind: str) -> Any:
    return next(k.model for k in kinds.installed_kinds() if k.name == kind).objects.all()


def test_a_deleted_parent_in_the_file_is_refused(good, tmp_path):
    def change(lines: list[Any]) -> None:
        collection = lines[index_of(lines, kind="collection")]
        collection.update(deleted=True, data={}, permissions={})

    path = write_lines(tmp_path / "damaged.jsonl", damage(good, change))
    with pytest.raises(CommandError, match="its parent /buckets/b/collections/c is deleted"):
        run_restore(path)


def test_a_truncated_gzip_file_is_refused(good, tmp_path):
    plain = write_lines(tmp_path / "good.jsonl", good)
    data = gzip.compress(plain.read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CommandError, match="truncated|damaged"):
        run_restore(path)


def test_an_empty_file(db, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(CommandError, match="the file is empty"):
        run_restore(path)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_damage_is_refused_cleanly_or_restored(good, tmp_path, data):
    """Whatever a line holds instead, the restore refuses the file with a message (or, if
    the change happens to keep it valid, restores it); never another exception."""
    lines = json.loads(json.dumps(good))
    index = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    line = lines[index]
    keys = sorted(line)
    action = data.draw(st.sampled_from(["set", "drop", "replace", "nest"]))
    if action == "set":
        line[data.draw(st.sampled_from(keys))] = data.draw(JSON_VALUES)
    elif action == "drop":
        line.pop(data.draw(st.sampled_from(keys)))
    elif action == "replace":
        lines[index] = data.draw(JSON_VALUES)
    else:
        key = data.draw(st.sampled_from([k for k in keys if isinstance(line[k], dict)] or keys))
        if isinstance(line[key], dict):
            line[key][data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
    path = write_lines(tmp_path / "fuzzed.jsonl", lines)
    try:
        run_restore(path)
    except CommandError as error:
        assert str(error).endswith("Nothing was restored.") or "Cannot read" in str(error)
    else:
        flush_everything()


def test_a_missing_file(db):
    with pytest.raises(CommandError, match="Cannot read /nowhere.jsonl"):
        run_restore(Path("/nowhere.jsonl"))


def test_the_first_bad_line_is_reported_even_with_good_lines_after_it(good, tmp_path):
    lines = damage(good, set_field("record", "id", "a b", id="r1"))
    lines = damage(lines, set_field("record", "id", "c d", id="r2"))
    with pytest.raises(CommandError) as error:
        run_restore(write_lines(tmp_path / "two.jsonl", lines))
    assert "invalid record id 'a b'" in str(error.value)


# Work per chunk, progress -----------------------------------------------------------------


def records_file(tmp_path: Path, count: int) -> Path:
    """A valid backup of one collection with `count` records (timestamps 1…count), written
    line by line (large ones are written by the memory test)."""
    parents = {"bucket": "b", "collection": "c"}
    head: list[Any] = [
        {"format": "kinto-backup", "version": 1, "kinds": ["bucket", "collection", "record"]},
        {"kind": "list", "resource": "bucket", "parents": {}, "last_modified": 10},
        {
            "kind": "bucket",
            "parents": {},
            "id": "b",
            "last_modified": 10,
            "deleted": False,
            "data": {},
            "permissions": {"write": ["account:ana"]},
        },
        {"kind": "list", "resource": "collection", "parents": {"bucket": "b"}, "last_modified": 5},
        {
            "kind": "collection",
            "parents": {"bucket": "b"},
            "id": "c",
            "last_modified": 5,
            "deleted": False,
            "data": {},
            "permissions": {},
        },
        {"kind": "list", "resource": "record", "parents": parents, "last_modified": count},
    ]
    path = tmp_path / f"records-{count}.jsonl"
    with path.open("w") as out:
        for line in head:
            out.write(json.dumps(line) + "\n")
        for n in range(1, count + 1):
            record = {
                "kind": "record",
                "parents": parents,
                "id": f"r{n:06d}",
                "last_modified": n,
                "deleted": False,
                "data": {"n": n, "text": "x" * 50},
                "permissions": {"read": [f"user{n % 50}"], "write": ["system.Authenticated"]},
            }
            out.write(json.dumps(record) + "\n")
        counts = {"list": 3, "bucket": 1, "collection": 1, "record": count}
        out.write(json.dumps({"kind": "end", "counts": counts, "lines": len(head) + count}))
    return path


def queries_of(action: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured)


def test_restore_and_backup_work_per_chunk_not_per_object(db, tmp_path):
    small, large = records_file(tmp_path, 5), records_file(tmp_path, 60)
    # Warms the per-process caches (content types, permissions) and stores the principals
    # (flush keeps rows that could be a host site's users: compare runs that find them all).
    restore.restore(str(large))
    dump.write_backup(io.BytesIO())
    flush_everything()
    restore_small = queries_of(lambda: restore.restore(str(small), chunk_size=100))
    backup_small = queries_of(lambda: dump.write_backup(io.BytesIO()))
    flush_everything()
    restore_large = queries_of(lambda: restore.restore(str(large), chunk_size=100))
    backup_large = queries_of(lambda: dump.write_backup(io.BytesIO()))
    assert restore_large == restore_small
    assert backup_large == backup_small
    # Smaller chunks: a few more queries per chunk (rows, ACLs, principals), none per object.
    flush_everything()
    chunked = queries_of(lambda: restore.restore(str(large), chunk_size=20))
    assert chunked - restore_small <= 2 * 10
    sink = io.BytesIO()
    assert queries_of(lambda: dump.write_backup(sink, chunk_size=20)) - backup_small <= 2 * 2
    assert sink.getvalue().count(b'"kind":"record"') == 60


def test_restored_acls_are_exact(db, tmp_path, api):
    restore.restore(str(records_file(tmp_path, 3)))
    lines = read_lines(run_backup(tmp_path))
    record = next(line for line in lines if line.get("id") == "r000002")
    assert record["permissions"] == {"read": ["user2"], "write": ["system.Authenticated"]}
    assert api.get("/buckets/b/collections/c/records/r000002", user="stranger").status == 200
    assert api.get("/buckets/b/collections/c/records/r000002", user=None).status == 401


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(db, tmp_path):
    path = records_file(tmp_path, 30)
    terminal = Terminal()
    call_command("kinto_restore", str(path), stdout=io.StringIO(), stderr=terminal)
    assert "Validate" in terminal.getvalue() and "Restore [" in terminal.getvalue()
    terminal = Terminal()
    call_command(
        "kinto_backup", "--output", str(tmp_path / "b"), stdout=io.StringIO(), stderr=terminal
    )
    assert "Backup [" in terminal.getvalue() and "100.0%" in terminal.getvalue()
    quiet, piped = Terminal(), io.StringIO()
    call_command("kinto_backup", "--output", str(tmp_path / "c"), "--quiet", stderr=quiet)
    call_command(
        "kinto_backup", "--output", str(tmp_path / "d"), stderr=piped, stdout=io.StringIO()
    )
    assert quiet.getvalue() == "" and piped.getvalue() == ""


def test_standard_output(db, tmp_path):
    restore.restore(str(records_file(tmp_path, 3)))
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    call_command("kinto_backup", stdout=out, stderr=err)
    out.flush()
    lines = out.buffer.getvalue().decode().splitlines()
    assert json.loads(lines[-1])["counts"]["record"] == 3
    assert "Backed up" in err.getvalue() and "standard output" in err.getvalue()


# The hook for other types: history entries ------------------------------------------------


def test_types_with_undeclared_columns_are_left_out(db, monkeypatch):
    monkeypatch.delitem(kinds._registered, "history")
    names = [kind.name for kind in kinds.installed_kinds()]
    assert names[:2] == ["account", "bucket"] and "record" in names
    assert "history" not in names  # `read_principals` would not be declared


def test_a_registered_type_with_its_own_columns_round_trips(
    server, kinto_settings, tmp_path, monkeypatch
):
    """The history app's registration (`--history`, its `read_principals` column)."""
    pytest.importorskip("kinto_django.history.models")
    kinto_settings(history_enabled=True)
    build_dataset(api_request(server))
    assert server.patch(f"{ORDERS}/records/shared", {"data": {"qty": 2}}, user=ANA).status == 200
    history = "/buckets/shop/history?_since=0"
    before = [server.get(history), server.get(history, user=ANA), server.head(history)]
    assert before[0].status == 200 and before[0].data
    assert kinds._registered["history"].option == "history"
    path = run_backup(tmp_path, "--tombstones", "--accounts", "--history")
    flush_everything()
    run_restore(path)
    assert any(line.get("kind") == "history" for line in read_lines(path)[1:])
    after = [server.get(history), server.get(history, user=ANA), server.head(history)]
    for expected, got in zip(before, after, strict=True):
        assert (got.status, got.headers["ETag"], got.content) == (
            expected.status,
            expected.headers["ETag"],
            expected.content,
        )
    assert before[2].headers["Total-Objects"] == after[2].headers["Total-Objects"]
