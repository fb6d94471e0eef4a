"""The authorization matrix (spec/04): every endpoint and method of buckets, collections,
groups and records, directly and inside `/batch`, for every kind of caller.

Each test stores one fixture world through the API (see `matrix.build_world`), then sends
every request of the matrix; each write runs in a savepoint rolled back afterwards, so all
cells see the same world. A cell checks the status (401 vs 403 vs 404), list visibility, and
that nothing of an object the caller may not read reaches it: not its data, not its id, not
in headers, error bodies, 412 details or pagination tokens, nor its ACLs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext

import pytest
from django.core.management import call_command
from django.db import transaction

from tests.permissions import matrix
from tests.permissions.matrix import (
    ADMIN_SETTINGS,
    AUTHENTICATED,
    CALLER_GROUPS,
    CALLERS,
    EVERYONE,
    RESOURCES,
    TEAM_URI,
    Built,
    Cell,
)


class RolledBack(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    """Whatever the block writes is undone: the next cell sees the same world."""
    try:
        with transaction.atomic():
            yield
            raise RolledBack
    except RolledBack:
        pass


def check(
    built: Built, callers: Iterable[str], cells: Iterable[Cell], batch: bool = True
) -> list[str]:
    """Run every cell for every caller; return one line per wrong detail.

    Every caller gets every cell directly; the `/batch` pass runs once per class of callers
    for whom the model expects exactly the same outcomes (the sub-requests take the same
    code paths, so a second caller of a class would add time, not coverage).
    """
    world = built.world
    cells = list(cells)
    failures = []
    batched: set[tuple] = set()
    for name in callers:
        caller = world.callers[name]
        profile = matrix.profile(world, caller, cells)
        passes = [False]
        if batch and profile not in batched:
            batched.add(profile)
            passes.append(True)
        for via_batch in passes:
            runs = []
            if via_batch:
                # Reads change nothing: one batch carries them all.
                reads = [c for c in cells if c.in_batch and c.method in ("GET", "HEAD")]
                runs = list(zip(reads, matrix.run_batch(built, caller, reads), strict=True))
            for cell in cells:
                if via_batch and (not cell.in_batch or cell.method in ("GET", "HEAD")):
                    continue
                with rolled_back() if cell.method not in ("GET", "HEAD") else nullcontext():
                    runs.append((cell, matrix.run(built, caller, cell, via_batch)))
            for cell, (outcome, request_text) in runs:
                expected = cell.expect(world, caller)
                problems = matrix.judge(
                    world, caller, cell, outcome, expected, request_text, via_batch
                )
                if cell.follow_next_page and not via_batch and not problems:
                    problems += check_second_page(built, caller, outcome)
                via = "batch " if via_batch else "direct"
                failures += [f"{name} {via} {cell.name}: {problem}" for problem in problems]
    return failures


def check_second_page(built: Built, caller: matrix.Caller, outcome: matrix.Outcome) -> list:
    """The `Next-Page` URL leads to the next readable item, and to nothing hidden."""
    ordered = matrix.ordered_visible(built.world, caller)
    second = matrix.follow_next_page(built, caller, outcome)
    if second is None:
        return []
    expected = matrix.Expect(200, items=set(ordered[1:2]), next_page=len(ordered) > 2)
    cell = Cell("second page", "GET", lambda w: "", lambda w, c: expected)
    url = outcome.headers.get("Next-Page")
    problems = matrix.judge(built.world, caller, cell, second, expected, url, False)
    return [f"second page: {problem}" for problem in problems]


def report(failures: list[str]) -> str:
    return f"{len(failures)} wrong cells:\n" + "\n".join(failures)


@pytest.fixture
def accounts_enabled(kinto_settings):
    kinto_settings(**ADMIN_SETTINGS)


@pytest.mark.parametrize("callers", list(CALLER_GROUPS))
@pytest.mark.parametrize("resource", RESOURCES)
def test_matrix(api, accounts_enabled, resource, callers):
    """Every cell for every caller; the failure lists every wrong cell at once."""
    built = matrix.build_world(api, resource, callers=CALLER_GROUPS[callers])
    failures = check(built, CALLER_GROUPS[callers], matrix.cells_for(resource))
    assert not failures, report(failures)


# --- the same cells in other worlds: public grants, group changes, settings ----------------


def grant_on_target(acl: str, principal: str) -> Callable[[Built], None]:
    """Add one principal to one ACL of the target, with a JSON-Patch ACL operation."""

    def apply(built: Built) -> None:
        target = built.world.target()
        operation = {"op": "add", "path": f"/permissions/{acl}/{principal}"}
        response = built.api.request(
            "PATCH",
            target.path,
            [operation],
            content_type="application/json-patch+json",
            user=CALLERS["owner"],
        )
        assert response.status == 200, response
        target.acls[acl].add(principal)
        built.world.timestamps[target.path] = response.json["data"]["last_modified"]

    return apply


def authenticated_team(built: Built) -> None:
    """`system.Authenticated` as a member: every authenticated caller is in the group."""
    team = built.world.named("group", TEAM_URI.rsplit("/", 1)[1])
    response = built.api.request(
        "PATCH", team.path, {"data": {"members": [AUTHENTICATED]}}, user=CALLERS["owner"]
    )
    assert response.status == 200, response
    built.world.members[TEAM_URI] = {AUTHENTICATED}
    team.extra = {"members": [AUTHENTICATED]}


def team_deleted(built: Built) -> None:
    """Deleting a group revokes its members' principal (its URI stays in ACLs, inert)."""
    team = built.world.named("group", TEAM_URI.rsplit("/", 1)[1])
    response = built.api.request("DELETE", team.path, user=CALLERS["owner"])
    assert response.status == 200, response
    built.world.members[TEAM_URI] = set()
    del built.world.objects[team.path]


VARIANTS: dict[str, tuple[Callable[[Built], None], tuple[str, ...]]] = {
    "system.Authenticated reads the target": (
        grant_on_target("read", AUTHENTICATED),
        ("anonymous", "stranger"),
    ),
    "system.Everyone reads the target": (
        grant_on_target("read", EVERYONE),
        ("anonymous",),
    ),
    "system.Everyone writes the target": (
        grant_on_target("write", EVERYONE),
        ("anonymous",),
    ),
    "system.Authenticated is a team member": (
        authenticated_team,
        ("stranger",),
    ),
    "the team is deleted": (team_deleted, ("member",)),
}

ALL = RESOURCES
# name → (settings, resources, callers). `{owner}` is the owner's user id.
SETTINGS_SCENARIOS: dict[str, tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]] = {
    "record_read_principals=Everyone": (
        {"record_read_principals": EVERYONE},
        ("record",),
        ("anonymous", "stranger", "record_creator"),
    ),
    "record_write_principals=Authenticated": (
        {"record_write_principals": AUTHENTICATED},
        ("record",),
        ("anonymous", "stranger"),
    ),
    "record_create_principals=Everyone": (
        {"record_create_principals": EVERYONE},
        ("record",),
        ("anonymous", "stranger"),
    ),
    "bucket_create_principals=owner,admin": (
        {"bucket_create_principals": "{owner} account:admin"},
        ("bucket",),
        ("anonymous", "stranger", "admin"),
    ),
    "bucket_create_principals=Everyone": (
        {"bucket_create_principals": EVERYONE},
        ("bucket",),
        ("anonymous",),
    ),
    "bucket_read_principals=Authenticated": (
        {"bucket_read_principals": AUTHENTICATED},
        ("bucket",),
        ("anonymous", "stranger"),
    ),
    "bucket_write_principals=Authenticated": (
        {"bucket_write_principals": AUTHENTICATED},
        ("bucket", "record"),
        ("stranger",),
    ),
    "bucket_write_principals=Everyone without bucket creation": (
        {"bucket_write_principals": EVERYONE, "bucket_create_principals": "{owner}"},
        ("bucket",),
        ("anonymous", "stranger"),
    ),
    "collection_create_principals=Authenticated": (
        {"collection_create_principals": AUTHENTICATED},
        ("collection",),
        ("anonymous", "stranger"),
    ),
    "collection_read_principals=team": (
        {"collection_read_principals": TEAM_URI},
        ("collection",),
        ("member", "ex_member"),
    ),
    "group_write_principals=admin": (
        {"group_write_principals": "account:admin"},
        ("group",),
        ("stranger", "admin"),
    ),
    "explicit_permissions=false": (
        {"explicit_permissions": "false"},
        ALL,
        ("bucket_writer", "collection_creator", "group_creator", "record_creator", "member"),
    ),
}


def callers_of_variants(resource: str) -> tuple[str, ...]:
    names = {name for _, callers in VARIANTS.values() for name in callers}
    for _, resources, callers in SETTINGS_SCENARIOS.values():
        if resource in resources:
            names.update(callers)
    return tuple(name for name in CALLERS if name in names)


@pytest.mark.parametrize("resource", RESOURCES)
def test_matrix_variants_and_settings(api, settings, resource):
    """Public grants, group membership changes and the `*_principals` settings, each applied
    to the same stored world (variants in a rolled-back savepoint, settings one at a time)."""
    base = {**settings.KINTO, **ADMIN_SETTINGS}
    settings.KINTO = base
    built = matrix.build_world(api, resource, callers=callers_of_variants(resource))
    failures = []
    for name, (apply, callers) in VARIANTS.items():
        with rolled_back():
            variant = Built(api, copy.deepcopy(built.world), built.owner)
            apply(variant)
            lines = check(variant, callers, matrix.CELLS, batch=False)
        failures += [f"[{name}] {line}" for line in lines]
    owner_id = built.world.callers["owner"].user_id if "owner" in built.world.callers else None
    owner_id = owner_id or matrix.user_id_of(api, CALLERS["owner"], "django")
    for name, (values, resources, callers) in SETTINGS_SCENARIOS.items():
        if resource not in resources:
            continue
        resolved = matrix.resolve_settings(values, owner_id)
        settings.KINTO = {**base, **resolved}
        scenario = Built(api, copy.deepcopy(built.world), built.owner)
        matrix.apply_settings(scenario.world, resolved)
        lines = check(scenario, callers, matrix.CELLS, batch=name.startswith("explicit"))
        failures += [f"[{name}] {line}" for line in lines]
        settings.KINTO = base
    assert not failures, report(failures)


# --- literal cells of spec/04 ------------------------------------------------------------

# "Resulting matrix for a missing record in an existing collection": caller → GET, PATCH,
# DELETE, PUT on /buckets/shop/collections/orders/records/nobody-x7.
MISSING_RECORD_MATRIX = {
    "anonymous": (401, 401, 401, 401),
    "stranger": (403, 403, 403, 403),
    "collection_reader": (404, 404, 404, 403),
    "bucket_reader": (404, 404, 404, 403),
    "record_creator": (403, 403, 403, 201),
    "collection_writer": (404, 404, 404, 201),
    "bucket_writer": (404, 404, 404, 201),
    "record_reader": (403, 403, 403, 403),
}


def test_missing_record_matrix(api, accounts_enabled):
    """The spec's own table, cell by cell, independent of the model (which it cross-checks)."""
    built = matrix.build_world(api, "record", callers=tuple(MISSING_RECORD_MATRIX))
    path = "/buckets/shop/collections/orders/records/nobody-x7"
    cells = {cell.name: cell for cell in matrix.CELLS}
    by_model = ("GET missing", "PATCH missing", "DELETE missing", "PUT create")
    for name, expected in MISSING_RECORD_MATRIX.items():
        caller = built.world.callers[name]
        statuses = []
        for method in ("GET", "PATCH", "DELETE", "PUT"):
            with rolled_back():
                response = api.request(method, path, {"data": {}}, user=caller.auth)
            statuses.append(response.status)
        assert tuple(statuses) == expected, name
        model = tuple(cells[c].expect(built.world, caller).status for c in by_model)
        assert model == expected, f"the model disagrees with the spec's table for {name}"


def test_literal_rules_of_the_spec(api, accounts_enabled):
    """Sentences of spec/01 and spec/04 that the matrix relies on, checked as written."""
    callers = ("anonymous", "stranger", "bucket_writer", "collection_creator")
    built = matrix.build_world(api, "collection", callers=callers)
    auth = {name: c.auth for name, c in built.world.callers.items()}
    # Buckets have no parent ACL: a missing bucket is 403 even to a writer of other buckets.
    for method in ("GET", "PATCH", "DELETE"):
        for name, status in (("anonymous", 401), ("stranger", 403), ("bucket_writer", 403)):
            response = api.request(method, "/buckets/nope", {"data": {}}, user=auth[name])
            assert response.status == status, (method, name)
    # A missing collection: record writes are 404 errno 111 before any permission check...
    records = "/buckets/shop/collections/nope/records"
    for method, path in (("POST", records), ("PUT", f"{records}/r"), ("PATCH", f"{records}/r")):
        response = api.request(method, path, {"data": {}}, user=None)
        assert (response.status, response.json["errno"]) == (404, 111), method
    response = api.request("DELETE", f"{records}/r", user=None)
    assert (response.status, response.json["errno"]) == (404, 111)
    # ...but reads are authorized first.
    assert api.request("GET", records, user=None).status == 401
    assert api.request("GET", records, user=auth["stranger"]).status == 403
    assert api.request("GET", records, user=auth["bucket_writer"]).json["errno"] == 111
    # Collection endpoints do not look the bucket up: a missing bucket grants nothing.
    response = api.request("PUT", "/buckets/nope/collections/c", user=auth["stranger"])
    assert response.status == 403
    # Holding only collection:create: GET the bucket and list collections (none readable:
    # an empty list), but not read the other collections.
    creator = auth["collection_creator"]
    assert api.request("GET", "/buckets/shop", user=creator).status == 200
    listed = api.request("GET", "/buckets/shop/collections", user=creator)
    assert (listed.status, listed.json["data"]) == (200, [])
    assert api.request("GET", "/buckets/shop/collections/orders", user=creator).status == 403


# --- editing ACLs (spec/04 "Editing ACLs") -----------------------------------------------

EXTRA_ACL = {"bucket": "collection:create", "collection": "record:create"}


def acls_of(response) -> dict[str, list[str]]:
    return {name: sorted(principals) for name, principals in response.json["permissions"].items()}


@pytest.mark.parametrize("resource", RESOURCES)
def test_acl_editing(api, accounts_enabled, resource):
    """PUT replaces every ACL, PATCH json/merge-patch/JSON-Patch edit some; the writer is
    always re-added to `write`, so it can never remove itself."""
    callers = ("owner", f"{resource}_writer", f"{resource}_reader", "bucket_writer")
    built = matrix.build_world(api, resource, callers=callers)
    target = built.world.target()
    writer = built.world.callers[f"{resource}_writer"]
    reader = built.world.callers[f"{resource}_reader"].user_id
    owner = built.world.callers["owner"].user_id
    stored = {name: sorted(p) for name, p in target.acls.items() if p}
    extra = EXTRA_ACL.get(resource)

    def send(method, body, content_type="application/json", user=writer.auth):
        response = api.request(method, target.path, body, content_type=content_type, user=user)
        assert response.status == 200, (method, body, response)
        return response

    def current() -> dict[str, list[str]]:
        return acls_of(api.request("GET", target.path, user=CALLERS["owner"]))

    with rolled_back():  # PUT with permissions: a full replacement
        replaced = send("PUT", {"data": {"members": []}, "permissions": {"read": ["someone"]}})
        assert acls_of(replaced) == {"read": ["someone"], "write": [writer.user_id]}
    with rolled_back():  # PUT without permissions: unchanged
        assert acls_of(send("PUT", {"data": {"members": []}})) == stored
    with rolled_back():  # PATCH json: given names replaced, null ignored, others unchanged
        patched = send("PATCH", {"permissions": {"read": ["someone"], "write": None}})
        assert acls_of(patched) == {**stored, "read": ["someone"]}
    with rolled_back():  # merge-patch: null removes that ACL
        merged = send("PATCH", {"permissions": {"read": None}}, "application/merge-patch+json")
        assert acls_of(merged) == {k: v for k, v in stored.items() if k != "read"}
    with rolled_back():  # JSON-Patch: one principal at a time, value taken from the path
        team = TEAM_URI.replace("/", "~1")
        operations = [
            {"op": "add", "path": "/permissions/read/someone"},
            {"op": "add", "path": f"/permissions/read/{team}"},
            {"op": "remove", "path": f"/permissions/read/{reader}"},
        ]
        patched = send("PATCH", operations, "application/json-patch+json")
        assert acls_of(patched)["read"] == sorted(["someone", TEAM_URI])
        assert current()["read"] == sorted(["someone", TEAM_URI])
    with rolled_back():  # JSON-Patch: a whole list replaced
        operations = [{"op": "replace", "path": "/permissions/read", "value": ["x", "y"]}]
        assert acls_of(send("PATCH", operations, "application/json-patch+json"))["read"] == [
            "x",
            "y",
        ]
    if extra:
        # Other ACL names: explicit values on an existing key, else 400.
        for operation in (
            {"op": "add", "path": f"/permissions/{extra}/someone"},
            {"op": "add", "path": "/permissions/write:nothing/someone", "value": "someone"},
        ):
            response = api.request(
                "PATCH",
                target.path,
                [operation],
                content_type="application/json-patch+json",
                user=writer.auth,
            )
            assert response.status == 400, operation
        with rolled_back():
            operation = {"op": "add", "path": f"/permissions/{extra}/u2", "value": "u2"}
            patched = send("PATCH", [operation], "application/json-patch+json")
            assert acls_of(patched)[extra] == sorted([*stored[extra], "u2"])
    with rolled_back():  # nobody removes itself from `write`
        assert acls_of(send("PATCH", {"permissions": {"write": []}}))["write"] == [writer.user_id]
        operations = [{"op": "remove", "path": f"/permissions/write/{writer.user_id}"}]
        assert (
            writer.user_id
            in acls_of(send("PATCH", operations, "application/json-patch+json"))["write"]
        )
    with rolled_back():  # the owner's own removal by another writer does stick
        operations = [{"op": "remove", "path": f"/permissions/write/{owner}"}]
        assert (
            owner not in acls_of(send("PATCH", operations, "application/json-patch+json"))["write"]
        )
    if resource != "bucket":
        # A writer through the bucket joins the object's `write` and then sees its ACLs.
        boss = built.world.callers["bucket_writer"]
        with rolled_back():
            patched = send("PATCH", {"data": {"seen": 1}}, user=boss.auth)
            assert boss.user_id in acls_of(patched)["write"]


CREATE_PRINCIPALS = {
    "bucket": "bucket_create_principals",
    "collection": "collection_create_principals",
    "group": "group_create_principals",
    "record": "record_create_principals",
}
CREATOR = {"bucket": "stranger", "collection": "collection_creator"}
CREATOR |= {"group": "group_creator", "record": "record_creator"}


@pytest.mark.parametrize("resource", RESOURCES)
def test_without_explicit_permissions(api, settings, resource):
    """`explicit_permissions = false`: writing adds nobody to `write`; ACLs are purely
    inherited, and a creator may lose access to what it created."""
    settings.KINTO = {**settings.KINTO, **ADMIN_SETTINGS}
    callers = ("owner", "bucket_writer", CREATOR[resource])
    built = matrix.build_world(api, resource, callers=callers)
    settings.KINTO = {**settings.KINTO, "explicit_permissions": False}
    target = built.world.target()
    stored = {name: sorted(p) for name, p in target.acls.items() if p}
    creator = built.world.callers[CREATOR[resource]]
    created = api.request("POST", target.plural_path, {"data": {}}, user=creator.auth)
    assert created.status == 201, created
    assert created.json["permissions"] == {}
    path = f"{target.plural_path}/{created.json['data']['id']}"
    assert api.request("GET", path, user=creator.auth).status == 403
    owner = CALLERS["owner"]
    if resource == "bucket":
        assert api.request("GET", path, user=owner).status == 403
    else:
        # Inherited write: the bucket writer edits, is not added, and sees no ACL.
        boss = built.world.callers["bucket_writer"]
        patched = api.request("PATCH", target.path, {"data": {"x": 1}}, user=boss.auth)
        assert (patched.status, patched.json["permissions"]) == (200, {})
        assert acls_of(api.request("GET", target.path, user=owner)) == stored
        assert acls_of(api.request("GET", path, user=owner)) == {}


@pytest.mark.parametrize("resource", RESOURCES)
def test_an_anonymous_creator_makes_the_object_world_writable(api, settings, resource):
    """Spec/04: an anonymous writer (only when settings allow it) adds `system.Everyone` to
    `write`: any anonymous caller may then change or delete the object."""
    settings.KINTO = {**settings.KINTO, **ADMIN_SETTINGS}
    built = matrix.build_world(api, resource, callers=("anonymous", "stranger"))
    settings.KINTO = {**settings.KINTO, CREATE_PRINCIPALS[resource]: EVERYONE}
    target = built.world.target()
    created = api.request("POST", target.plural_path, {"data": {"members": []}}, user=None)
    assert created.status == 201, created
    assert created.json["permissions"] == {"write": [EVERYONE]}
    path = f"{target.plural_path}/{created.json['data']['id']}"
    patched = api.request("PATCH", path, {"data": {"by": "someone else"}}, user=None)
    assert (patched.status, patched.json["permissions"]) == (200, {"write": [EVERYONE]})
    stranger = api.request("GET", path, user=CALLERS["stranger"])
    assert stranger.status == 200
    assert stranger.json["permissions"] == {"write": [EVERYONE]}  # Everyone is in `write`
    assert api.request("DELETE", path, user=None).status == 200


# --- accounts: the admin and the password digest -------------------------------------------

ACCOUNT_CALLERS = {
    "anonymous": None,
    "stranger": "stranger",  # basicauth, no account
    "bob": ("bob", "bob-password"),  # another account
    "ana": ("ana", "ana-password"),  # the account's owner
    "admin": ("admin", "admin-password"),  # in account_write_principals
}
# (method, path, body, headers) → caller → expected status (spec/05's table).
ANA = "/accounts/ana"
ACCOUNT_CELLS: dict[tuple[str, str], dict[str, int]] = {
    ("GET", ANA): {"anonymous": 401, "stranger": 403, "bob": 403, "ana": 200, "admin": 200},
    ("HEAD", ANA): {"anonymous": 401, "stranger": 403, "bob": 403, "ana": 200, "admin": 200},
    ("GET", "/accounts"): {
        "anonymous": 401,
        "stranger": 200,
        "bob": 200,
        "ana": 200,
        "admin": 200,
    },
    ("HEAD", "/accounts"): {
        "anonymous": 401,
        "stranger": 200,
        "bob": 200,
        "ana": 200,
        "admin": 200,
    },
    ("PUT If-None-Match *", ANA): {
        "anonymous": 412,
        "stranger": 400,
        "bob": 400,
        "ana": 412,
        "admin": 412,
    },
    ("POST existing id", "/accounts"): {
        "anonymous": 401,
        "stranger": 400,
        "bob": 400,
        "ana": 200,
        "admin": 200,
    },
    ("PATCH", ANA): {"anonymous": 401, "stranger": 403, "bob": 403, "ana": 200, "admin": 200},
    ("DELETE", ANA): {"anonymous": 401, "stranger": 403, "bob": 403, "ana": 200, "admin": 200},
    ("GET", "/accounts/nobody"): {
        "anonymous": 401,
        "stranger": 403,
        "bob": 403,
        "ana": 403,
        "admin": 404,
    },
    ("PATCH", "/accounts/nobody"): {
        "anonymous": 401,
        "stranger": 403,
        "bob": 403,
        "ana": 403,
        "admin": 404,
    },
}
ACCOUNT_LISTS = {"stranger": [], "bob": ["bob"], "ana": ["ana"], "admin": ["admin", "ana", "bob"]}


def account_request(cell: tuple[str, str]) -> tuple[str, str, dict | None, dict[str, str]]:
    action, path = cell
    if action == "PUT If-None-Match *":
        return "PUT", path, {"data": {"password": "new"}}, {"If-None-Match": "*"}
    if action == "POST existing id":
        return "POST", path, {"data": {"id": "ana", "password": "new"}}, {}
    if action == "PATCH":
        return "PATCH", path, {"data": {"age": 3}}, {}
    return action, path, None, {}


def test_accounts_matrix(api, accounts_enabled):
    """Who reads or changes an account, and that its password digest and data never reach
    anyone else (the reference hands the hash to anonymous callers through a 412)."""
    secrets_of: dict[str, list[str]] = {}
    for name in ("ana", "bob", "admin"):
        user, password = ACCOUNT_CALLERS[name]
        mark = matrix.marker()
        body = {"data": {"password": password, "mark": mark}}
        if name == "admin":
            # Admins are named by `account_write_principals`: the operator creates them.
            call_command("kinto_create_account", user, "--password", password)
            created = api.request("PATCH", f"/accounts/{user}", body, user=(user, password))
            assert created.status == 200, created
        else:
            created = api.request("PUT", f"/accounts/{user}", body, user=None)
            assert created.status == 201, created
        secrets_of[name] = [mark, created.json["data"]["password"]]
    failures = []
    for cell, statuses in ACCOUNT_CELLS.items():
        method, path, body, headers = account_request(cell)
        for caller, status in statuses.items():
            auth = ACCOUNT_CALLERS[caller]
            for via_batch in (False, True):
                with rolled_back():
                    if via_batch:
                        sub = {"method": method, "path": path, "headers": headers}
                        if body is not None:
                            sub["body"] = body
                        outer = api.request("POST", "/batch", {"requests": [sub]}, user=auth)
                        item = outer.json["responses"][0]
                        got, json_body, seen = item["status"], item["body"], outer.content
                        total = item["headers"].get("Total-Objects")
                    else:
                        response = api.request(method, path, body, headers=headers, user=auth)
                        got, json_body = response.status, response.json
                        seen = response.content + str(dict(response.headers)).encode()
                        total = response.headers.get("Total-Objects")
                where = f"{caller} {'batch' if via_batch else 'direct'} {method} {path}"
                if got != status:
                    failures.append(f"{where}: {got}, expected {status}")
                    continue
                readable = {caller} | ({"ana", "bob"} if caller == "admin" else set())
                for owner, values in secrets_of.items():
                    if owner not in readable and any(v.encode() in seen for v in values):
                        failures.append(f"{where}: shows {owner}'s data or password digest")
                if status == 412 and "details" in (json_body or {}) and caller not in readable:
                    failures.append(f"{where}: 412 details shown")
                if method == "GET" and path == "/accounts" and status == 200:
                    ids = sorted(a["id"] for a in json_body["data"])
                    if ids != ACCOUNT_LISTS[caller]:
                        failures.append(f"{where}: lists {ids}")
                if method == "HEAD" and path == "/accounts" and status == 200:
                    if total != str(len(ACCOUNT_LISTS[caller])):
                        failures.append(f"{where}: Total-Objects {total}")
    assert not failures, report(failures)
