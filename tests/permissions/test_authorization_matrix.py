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
from contextlib import contextmanager

import pytest
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
    """Run every cell for every caller; return one line per wrong detail."""
    world = built.world
    failures = []
    for name in callers:
        caller = world.callers[name]
        for cell in cells:
            for via_batch in (False, True) if batch and cell.in_batch else (False,):
                expected = cell.expect(world, caller)
                with rolled_back():
                    outcome, request_text = matrix.run(built, caller, cell, via_batch)
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
