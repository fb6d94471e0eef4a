"""The authorization matrix of spec/04 as data: a model of who holds what, and the expected
outcome of every request for every kind of caller.

The expectations come from the spec's tables (inheritance, required permission per request,
401/403/404 rules, list visibility), written here as data and evaluated against a model of
the ACLs the test stored. Nothing is imported from the server: if the server and this model
disagree, one of them misreads the spec.

The module only needs an `api` object with `request(method, path, body, headers=,
content_type=, raw=, user=)` returning `status`, `headers`, `content` and `json` (the test
client of `tests.conftest`, or a plain HTTP client against a live server).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"
RESOURCES = ("bucket", "collection", "group", "record")

# --- spec/04 tables --------------------------------------------------------------------------

# "Inheritance — who holds a permission": (target, permission) → ancestry level → ACL names.
GRANTED_BY: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("bucket", "read"): {"bucket": ("write", "read", "collection:create", "group:create")},
    ("bucket", "write"): {"bucket": ("write",)},
    ("collection", "read"): {
        "bucket": ("write", "read"),
        "collection": ("write", "read", "record:create"),
    },
    ("collection", "write"): {"bucket": ("write",), "collection": ("write",)},
    ("group", "read"): {"bucket": ("write", "read"), "group": ("write", "read")},
    ("group", "write"): {"bucket": ("write",), "group": ("write",)},
    ("record", "read"): {
        "bucket": ("write", "read"),
        "collection": ("write", "read"),
        "record": ("write", "read"),
    },
    ("record", "write"): {"bucket": ("write",), "collection": ("write",), "record": ("write",)},
}

# Permissions on a whole list, held through the parents' ACLs ("a list (all items)" row, the
# `*:create` rows, and "write on the list" of DELETE list). Buckets have no parent: settings only.
LIST_GRANTED_BY: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("bucket", "read"): {},
    ("bucket", "write"): {},
    ("bucket", "create"): {},
    ("collection", "read"): {"bucket": ("write", "read")},
    ("collection", "write"): {"bucket": ("write",)},
    ("collection", "create"): {"bucket": ("write", "collection:create")},
    ("group", "read"): {"bucket": ("write", "read")},
    ("group", "write"): {"bucket": ("write",)},
    ("group", "create"): {"bucket": ("write", "group:create")},
    ("record", "read"): {"bucket": ("write", "read"), "collection": ("write", "read")},
    ("record", "write"): {"bucket": ("write",), "collection": ("write",)},
    ("record", "create"): {"bucket": ("write",), "collection": ("write", "record:create")},
}

# "Settings that grant permissions": `<type>_<perm>_principals` grants <perm> on every object
# of <type> and on its list. The spec is silent on a write setting; the reference (which then
# decides) also accepts `<type>_write_principals` wherever read or create is required, except
# for creating buckets (no parent): only `bucket_create_principals` allows that.
SETTINGS_GRANTING: dict[str, tuple[str, ...]] = {
    "read": ("read", "write"),
    "write": ("write",),
    "create": ("create", "write"),
}
BUCKET_SETTINGS_GRANTING = {**SETTINGS_GRANTING, "create": ("create",)}

PARENT = {"bucket": None, "collection": "bucket", "group": "bucket", "record": "collection"}
ACL_NAMES = {
    "bucket": ("read", "write", "collection:create", "group:create"),
    "collection": ("read", "write", "record:create"),
    "group": ("read", "write"),
    "record": ("read", "write"),
}
PLURAL = {"bucket": "buckets", "collection": "collections", "group": "groups", "record": "records"}

# Who is granted what: (level, ACL name) on the "target" and "twin" objects of that level.
ROLE_GRANTS: dict[str, tuple[str, str]] = {
    "bucket_reader": ("bucket", "read"),
    "bucket_writer": ("bucket", "write"),
    "collection_creator": ("bucket", "collection:create"),
    "group_creator": ("bucket", "group:create"),
    "collection_reader": ("collection", "read"),
    "collection_writer": ("collection", "write"),
    "record_creator": ("collection", "record:create"),
    "group_reader": ("group", "read"),
    "group_writer": ("group", "write"),
    "record_reader": ("record", "read"),
    "record_writer": ("record", "write"),
}

# Every kind of caller: name → credentials (None = anonymous, str = basicauth user with the
# suite's password, tuple = account credentials).
CALLERS: dict[str, Any] = {
    "anonymous": None,
    "stranger": "stranger",
    "owner": "alice",
    **{role: role.replace("_", "-") for role in ROLE_GRANTS},
    "member": "member",  # in a group whose URI is in the target's `write` ACL
    "ex_member": "ex-member",  # was in that group, removed before the requests
    "admin": ("admin", "admin-password"),  # account admin (account_write_principals)
}
# Callers checked against one stored world (a world costs ~35 requests to build).
CALLER_GROUPS: dict[str, tuple[str, ...]] = {
    "outsiders": ("anonymous", "stranger", "admin", "ex_member"),
    "readers": ("bucket_reader", "collection_reader", "group_reader", "record_reader"),
    "writers": ("owner", "bucket_writer", "collection_writer", "group_writer", "record_writer"),
    "creators": ("collection_creator", "group_creator", "record_creator", "member"),
}
assert sorted(sum(CALLER_GROUPS.values(), ())) == sorted(CALLERS)

ADMIN_SETTINGS = {
    "auth_policies": "account basicauth",
    "account_create_principals": EVERYONE,
    "account_write_principals": "account:admin",
}

# Ids: distinctive, so that finding one in a response is never a coincidence.
TARGET = {"bucket": "shop", "collection": "orders", "group": "staff", "record": "target"}
TWIN = {"bucket": "twin-b7", "collection": "twin-c7", "group": "twin-g7", "record": "twin-r7"}
HIDDEN = {
    "bucket": "vault-b7",
    "collection": "secret-c7",
    "group": "hidden-g7",
    "record": "hide-r7",
}
MISSING_ID = "nobody-x7"
DELETED = {"bucket": "del-b7", "collection": "del-c7", "group": "del-g7", "record": "del-r7"}
MISSING_PARENT = {"collection": "/buckets/gone-b7", "group": "/buckets/gone-b7"}
MISSING_PARENT["record"] = "/buckets/shop/collections/gone-c7"
TEAM_BUCKET, TEAM_GROUP = "vault-b7", "team-g7"
TEAM_URI = f"/buckets/{TEAM_BUCKET}/groups/{TEAM_GROUP}"


# --- the world: objects, ACLs and callers ----------------------------------------------------


@dataclass
class Obj:
    """One stored object as the test wrote it: its ACLs, and a marker unique to its data."""

    kind: str
    oid: str
    parent: Obj | None
    acls: dict[str, set[str]]
    marker: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        prefix = self.parent.path if self.parent else ""
        return f"{prefix}/{PLURAL[self.kind]}/{self.oid}"

    @property
    def plural_path(self) -> str:
        return (self.parent.path if self.parent else "") + f"/{PLURAL[self.kind]}"

    def chain(self) -> dict[str, Obj]:
        levels = self.parent.chain() if self.parent else {}
        return {**levels, self.kind: self}

    def data(self) -> dict[str, Any]:
        return {"marker": self.marker, "deep": {"copy": self.marker}, **self.extra}


@dataclass
class Caller:
    name: str
    auth: Any
    user_id: str | None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


@dataclass
class World:
    """The model: every object with its ACLs, group memberships and granting settings."""

    resource: str
    objects: dict[str, Obj] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    settings: dict[str, list[str]] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)
    timestamps: dict[str, int] = field(default_factory=dict)
    explicit_permissions: bool = True
    tombstones: set[str] = field(default_factory=set)  # deleted siblings of the target

    def add(self, obj: Obj) -> Obj:
        self.objects[obj.path] = obj
        return obj

    def target(self, kind: str | None = None) -> Obj:
        kind = kind or self.resource
        return next(o for o in self.objects.values() if o.kind == kind and o.oid == TARGET[kind])

    def named(self, kind: str, oid: str) -> Obj:
        return next(o for o in self.objects.values() if o.kind == kind and o.oid == oid)

    def children(self, kind: str, parent: Obj | None) -> list[Obj]:
        return [o for o in self.objects.values() if o.kind == kind and o.parent is parent]

    # principals and permissions

    def principals(self, caller: Caller) -> set[str]:
        if caller.anonymous:
            return {EVERYONE}
        held = {caller.user_id, EVERYONE, AUTHENTICATED}
        for uri, members in self.members.items():
            if caller.user_id in members or AUTHENTICATED in members:
                held.add(uri)
        return held

    def setting_grants(self, caller: Caller, kind: str, permission: str) -> bool:
        principals = self.principals(caller)
        return any(
            principals & set(self.settings.get(f"{kind}_{perm}_principals", ()))
            for perm in (BUCKET_SETTINGS_GRANTING if kind == "bucket" else SETTINGS_GRANTING)[
                permission
            ]
        )

    def _acl_grants(
        self, caller: Caller, table: dict[str, tuple[str, ...]], chain: dict[str, Obj]
    ) -> bool:
        principals = self.principals(caller)
        for level, names in table.items():
            obj = chain.get(level)
            if obj is not None and any(principals & obj.acls.get(n, set()) for n in names):
                return True
        return False

    def can(self, caller: Caller, permission: str, obj: Obj) -> bool:
        """read / write on one existing object (inheritance table + settings)."""
        if self.setting_grants(caller, obj.kind, permission):
            return True
        return self._acl_grants(caller, GRANTED_BY[(obj.kind, permission)], obj.chain())

    def can_list(self, caller: Caller, permission: str, kind: str, parent: Obj | None) -> bool:
        """read / write / create on the whole list of `kind` under an existing `parent`."""
        if self.setting_grants(caller, kind, permission):
            return True
        chain = parent.chain() if parent is not None else {}
        return self._acl_grants(caller, LIST_GRANTED_BY[(kind, permission)], chain)

    def sees_permissions(self, caller: Caller, acls: dict[str, Iterable[str]]) -> bool:
        """`permissions` are shown to principals literally in the object's own `write`."""
        return bool(self.principals(caller) & set(acls.get("write", ())))


def marker() -> str:
    return f"mk{secrets.token_hex(6)}z"


# --- building the world through the API -------------------------------------------------------


class Built:
    """A world stored on a server, with the API client and the model side by side."""

    def __init__(self, api: Any, world: World, owner: Any) -> None:
        self.api = api
        self.world = world
        self.owner = owner

    def send(self, method: str, path: str, body: Any = None, user: Any = None, **kw: Any):
        return self.api.request(method, path, body, user=user, **kw)


_user_ids: dict[tuple[int, Any], str | None] = {}


def user_id_of(api: Any, auth: Any, cache_key: Any) -> str | None:
    """The server's user id for credentials (`GET /`); basicauth ids never change per server."""
    if auth is None:
        return None
    key = (cache_key, auth)
    if key not in _user_ids or isinstance(auth, tuple):
        response = api.request("GET", "/", None, user=auth)
        _user_ids[key] = (response.json.get("user") or {}).get("id")
    return _user_ids[key]


def build_world(
    api: Any,
    resource: str,
    *,
    member_grant: str = "write",
    extra_grants: Iterable[tuple[str, str]] = (),
    settings: dict[str, Any] | None = None,
    callers: Iterable[str] = (),
    authenticated_team: bool = False,
    cache_key: Any = "django",
) -> Built:
    """Store the fixture world and return it with its model.

    Buckets `shop` (target), `twin-b7`, `vault-b7` (hidden); in `shop`: collections `orders`,
    `twin-c7`, `secret-c7`, groups `staff`, `twin-g7`, `hidden-g7`; in `orders`: records
    `target`, `twin-r7`, `hide-r7`. Each role of ROLE_GRANTS holds its ACL on the target and the
    twin of its level; the group `vault-b7/team-g7` holds `member_grant` on the target and twin
    of the resource under test; `extra_grants` adds (ACL name, principal) on the target.
    The owner (alice) is named in every `write` ACL, so the world is the same whatever
    `explicit_permissions` says. `settings` are those the server runs with (see
    `resolve_settings`); `authenticated_team` makes `system.Authenticated` the team's member.
    """
    callers = tuple(callers)
    world = World(resource)
    world.settings = {
        "bucket_create_principals": [AUTHENTICATED],
        **{k: v.split() for k, v in (settings or {}).items() if k.endswith("_principals")},
    }
    world.explicit_permissions = str(
        (settings or {}).get("explicit_permissions", True)
    ).lower() in (
        "true",
        "1",
    )
    owner_auth = CALLERS["owner"]
    send = api.request
    if "admin" in callers:
        # Admins are named by `account_write_principals`: the operator creates them.
        from django.core.management import call_command

        call_command("kinto_create_account", "admin", "--password", "admin-password")
    # Every role holds its grants whichever callers are checked: the others' ACLs are there too.
    uid = {
        name: user_id_of(api, auth, cache_key)
        for name, auth in CALLERS.items()
        if isinstance(auth, str) or name in callers
    }
    for name in callers:
        world.callers[name] = Caller(name, CALLERS[name], uid.get(name))
    owner_id = uid["owner"]

    def acls_for(kind: str, oid: str) -> dict[str, set[str]]:
        acls: dict[str, set[str]] = {name: set() for name in ACL_NAMES[kind]}
        acls["write"].add(owner_id)
        if oid in (TARGET[kind], TWIN[kind]):
            for role, (level, acl) in ROLE_GRANTS.items():
                if level == kind and uid.get(role):
                    acls[acl].add(uid[role])
            if kind == resource:
                acls[member_grant].add(TEAM_URI)
        if oid == TARGET[kind] and kind == resource:
            for acl, principal in extra_grants:
                acls[acl].add(principal)
        return acls

    def store(obj: Obj) -> Obj:
        acls = {name: sorted(principals) for name, principals in obj.acls.items() if principals}
        response = send(
            "PUT", obj.path, {"data": obj.data(), "permissions": acls}, user=owner_auth
        )
        assert response.status == 201, (obj.path, response)
        world.timestamps[obj.path] = response.json["data"]["last_modified"]
        return world.add(obj)

    buckets = {}
    for oid in (TARGET["bucket"], TWIN["bucket"], HIDDEN["bucket"]):
        buckets[oid] = store(Obj("bucket", oid, None, acls_for("bucket", oid), marker()))
    vault = buckets[TEAM_BUCKET]
    team = Obj("group", TEAM_GROUP, vault, acls_for("group", TEAM_GROUP), marker())
    team.extra = {"members": [uid["member"], uid["ex_member"]]}
    store(team)
    members = [AUTHENTICATED] if authenticated_team else [uid["member"]]
    removed = send("PATCH", team.path, {"data": {"members": members}}, user=owner_auth)
    assert removed.status == 200, removed
    team.extra = {"members": members}
    world.members[TEAM_URI] = set(members)
    shop = buckets[TARGET["bucket"]]
    for kind in ("collection", "group"):
        for oid in (TARGET[kind], TWIN[kind], HIDDEN[kind]):
            obj = Obj(kind, oid, shop, acls_for(kind, oid), marker())
            if kind == "group":
                obj.extra = {"members": []}
            store(obj)
    orders = world.named("collection", TARGET["collection"])
    for oid in (TARGET["record"], TWIN["record"], HIDDEN["record"]):
        store(Obj("record", oid, orders, acls_for("record", oid), marker()))
    # A deleted sibling of the target, once shared like it: its tombstone is listed (with
    # `_since`) to readers of the whole list only, since deleting an object drops its ACLs.
    parent = world.target().parent
    gone = Obj(resource, DELETED[resource], parent, acls_for(resource, TARGET[resource]), "")
    acls = {name: sorted(principals) for name, principals in gone.acls.items() if principals}
    data = {"members": []} if resource == "group" else {}
    created = send("PUT", gone.path, {"data": data, "permissions": acls}, user=owner_auth)
    assert created.status == 201, created
    assert send("DELETE", gone.path, None, user=owner_auth).status == 200
    world.tombstones.add(gone.oid)
    return Built(api, world, owner_auth)


def apply_settings(world: World, settings: dict[str, Any]) -> None:
    """Tell the model which settings the server runs with (bucket creation defaults to
    `system.Authenticated`, as in the reference's configuration)."""
    world.settings = {
        "bucket_create_principals": [AUTHENTICATED],
        **{k: v.split() for k, v in settings.items() if k.endswith("_principals")},
    }
    explicit = str(settings.get("explicit_permissions", True)).lower()
    world.explicit_permissions = explicit in ("true", "1", "yes", "on")


def resolve_settings(settings: dict[str, str], owner_id: str) -> dict[str, str]:
    """Settings with `{owner}` replaced by the owner's user id (it must keep creating)."""
    return {name: value.replace("{owner}", owner_id) for name, value in settings.items()}


# --- expected outcomes ---------------------------------------------------------------------


@dataclass
class Expect:
    """What a cell must answer: a status, and what the body may or must show."""

    status: int
    errno: int | None = None
    object_id: str | None = None  # 200/201 object responses: data.id
    acl_of: Obj | None = None  # object whose ACLs decide if `permissions` are shown
    items: set[str] | None = None  # list responses (GET, DELETE): the ids
    total: int | None = None  # HEAD lists: Total-Objects
    existing: str | None | bool = False  # 412: id in details.existing, or None for no details
    written: bool = False  # a successful write: the caller joins `write`
    next_page: bool | None = None
    first_item: str | None = None


def deny(caller: Caller) -> Expect:
    """spec/04 "Deny": 401 + errno 104 without a user, 403 + errno 121 otherwise."""
    return Expect(401, 104) if caller.anonymous else Expect(403, 121)


def visible_items(
    world: World, caller: Caller, kind: str, parent: Obj | None, permission: str
) -> set[str] | None:
    """spec/04 list rule: all, else the individually allowed ones, else [] for creators,
    else None (deny)."""
    children = world.children(kind, parent)
    if world.can_list(caller, permission, kind, parent):
        return {o.oid for o in children}
    allowed = {o.oid for o in children if world.can(caller, permission, o)}
    if allowed:
        return allowed
    if world.can_list(caller, "create", kind, parent):
        return set()
    return None


@dataclass
class Cell:
    """One request of the matrix and the rule giving its expected outcome."""

    name: str
    method: str
    path: Callable[[World], str]
    expect: Callable[[World, Caller], Expect]
    body: Callable[[World], Any] | None = None
    headers: Callable[[World], dict[str, str]] | None = None
    content_type: str = "application/json"
    in_batch: bool = True
    follow_next_page: bool = False


def _target(w: World) -> Obj:
    return w.target()


def _hidden(w: World) -> Obj:
    return w.named(w.resource, HIDDEN[w.resource])


def _parent(w: World) -> Obj | None:
    return _target(w).parent


def _missing_path(w: World) -> str:
    return f"{_target(w).plural_path}/{MISSING_ID}"


def _object(obj: Obj, written: bool = False) -> Expect:
    return Expect(200, object_id=obj.oid, acl_of=obj, written=written)


def read_object(obj_of: Callable[[World], Obj]) -> Callable[[World, Caller], Expect]:
    def rule(w: World, c: Caller) -> Expect:
        obj = obj_of(w)
        return _object(obj) if w.can(c, "read", obj) else deny(c)

    return rule


def write_object(w: World, c: Caller) -> Expect:
    obj = _target(w)
    return _object(obj, written=True) if w.can(c, "write", obj) else deny(c)


def delete_object(obj_of: Callable[[World], Obj]) -> Callable[[World, Caller], Expect]:
    def rule(w: World, c: Caller) -> Expect:
        obj = obj_of(w)
        return Expect(200, object_id=obj.oid) if w.can(c, "write", obj) else deny(c)

    return rule


def missing_object(w: World, c: Caller) -> Expect:
    """spec/04: on an absent object, list readers get 404, everybody else is denied."""
    if w.can_list(c, "read", w.resource, _parent(w)):
        return Expect(404, 110)
    return deny(c)


def _fresh(w: World) -> Obj:
    """A new object: no ACL but the writer's (added by the judge)."""
    target = _target(w)
    return Obj(
        w.resource, MISSING_ID, target.parent, {n: set() for n in ACL_NAMES[w.resource]}, ""
    )


def create_missing(w: World, c: Caller) -> Expect:
    if w.can_list(c, "create", w.resource, _parent(w)):
        return Expect(201, object_id=MISSING_ID, acl_of=_fresh(w), written=True)
    return deny(c)


def safe_create_existing(w: World, c: Caller) -> Expect:
    """PUT + If-None-Match: * on an existing id needs create on the parent, then 412 whose
    `details.existing` is shown only to callers who may read the object (spec/02)."""
    obj = _target(w)
    if not w.can_list(c, "create", w.resource, _parent(w)):
        return deny(c)
    return Expect(412, 114, existing=obj.oid if w.can(c, "read", obj) else None)


def stale_write(w: World, c: Caller) -> Expect:
    obj = _target(w)
    if not w.can(c, "write", obj):
        return deny(c)
    return Expect(412, 114, existing=obj.oid)


def stale_read(w: World, c: Caller) -> Expect:
    obj = _target(w)
    return Expect(412, 114, existing=obj.oid) if w.can(c, "read", obj) else deny(c)


def not_modified(w: World, c: Caller) -> Expect:
    return Expect(304) if w.can(c, "read", _target(w)) else deny(c)


def post_new(w: World, c: Caller) -> Expect:
    if w.can_list(c, "create", w.resource, _parent(w)):
        return Expect(201, acl_of=_fresh(w), written=True)
    return deny(c)


def post_existing(obj_of: Callable[[World], Obj], safe: bool = False):
    """POST of an existing `data.id` needs only read on it: 200 (or 412 with If-None-Match)."""

    def rule(w: World, c: Caller) -> Expect:
        obj = obj_of(w)
        if not w.can(c, "read", obj):
            return deny(c)
        if safe:
            return Expect(412, 114, existing=obj.oid)
        return _object(obj)

    return rule


def list_read(w: World, c: Caller) -> Expect:
    items = visible_items(w, c, w.resource, _parent(w), "read")
    return deny(c) if items is None else Expect(200, items=items, next_page=False)


def list_with_tombstones(w: World, c: Caller) -> Expect:
    items = visible_items(w, c, w.resource, _parent(w), "read")
    if items is None:
        return deny(c)
    if w.can_list(c, "read", w.resource, _parent(w)):
        items |= w.tombstones
    return Expect(200, items=items)


def list_head(w: World, c: Caller) -> Expect:
    items = visible_items(w, c, w.resource, _parent(w), "read")
    return deny(c) if items is None else Expect(200, total=len(items))


def list_first_page(w: World, c: Caller) -> Expect:
    items = visible_items(w, c, w.resource, _parent(w), "read")
    if items is None:
        return deny(c)
    ordered = ordered_visible(w, c)
    return Expect(
        200,
        items=set(ordered[:1]),
        next_page=len(ordered) > 1,
        first_item=ordered[0] if ordered else None,
    )


def list_filtered_on_hidden(w: World, c: Caller) -> Expect:
    """Counting with a filter on a hidden value: the count sees only readable rows."""
    items = visible_items(w, c, w.resource, _parent(w), "read")
    if items is None:
        return deny(c)
    return Expect(200, total=1 if HIDDEN[w.resource] in items else 0)


def list_delete(w: World, c: Caller) -> Expect:
    items = visible_items(w, c, w.resource, _parent(w), "write")
    return deny(c) if items is None else Expect(200, items=items)


def missing_parent_write(w: World, c: Caller) -> Expect:
    """Record writes look their collection up before authorization: 404 errno 111 (spec/01);
    collections and groups under a missing bucket are simply not granted anything."""
    if w.resource == "record":
        return Expect(404, 111)
    return deny(c)


def missing_parent_read(w: World, c: Caller) -> Expect:
    """Reads are authorized first, with the ancestors that exist (spec/01)."""
    if w.resource == "record":
        shop = w.target("bucket")
        if w.setting_grants(c, "record", "read") or w._acl_grants(
            c, {"bucket": LIST_GRANTED_BY[("record", "read")]["bucket"]}, shop.chain()
        ):
            return Expect(404, 111)
    elif w.setting_grants(c, w.resource, "read"):
        return Expect(404, 111)
    return deny(c)


def _new_data(w: World) -> dict[str, Any]:
    data: dict[str, Any] = {"marker": "written-by-caller"}
    if w.resource == "group":
        data["members"] = []
    return data


CELLS: list[Cell] = [
    Cell("GET object", "GET", lambda w: _target(w).path, read_object(_target)),
    Cell("HEAD object", "HEAD", lambda w: _target(w).path, read_object(_target)),
    Cell("GET hidden sibling", "GET", lambda w: _hidden(w).path, read_object(_hidden)),
    Cell("GET missing", "GET", _missing_path, missing_object),
    Cell(
        "GET If-None-Match current",
        "GET",
        lambda w: _target(w).path,
        not_modified,
        headers=lambda w: {"If-None-Match": f'"{w.timestamps[_target(w).path]}"'},
        in_batch=False,
    ),
    Cell(
        "GET If-Match stale",
        "GET",
        lambda w: _target(w).path,
        stale_read,
        headers=lambda w: {"If-Match": '"1"'},
        in_batch=False,
    ),
    Cell(
        "PUT replace",
        "PUT",
        lambda w: _target(w).path,
        write_object,
        body=lambda w: {"data": _new_data(w)},
    ),
    Cell(
        "PUT If-None-Match * existing",
        "PUT",
        lambda w: _target(w).path,
        safe_create_existing,
        body=lambda w: {"data": _new_data(w)},
        headers=lambda w: {"If-None-Match": "*"},
    ),
    Cell(
        "PUT create",
        "PUT",
        _missing_path,
        create_missing,
        body=lambda w: {"data": _new_data(w)},
    ),
    Cell(
        "PATCH json",
        "PATCH",
        lambda w: _target(w).path,
        write_object,
        body=lambda w: {"data": {"patched": "yes"}},
    ),
    Cell(
        "PATCH merge-patch",
        "PATCH",
        lambda w: _target(w).path,
        write_object,
        body=lambda w: {"data": {"patched": "yes"}},
        content_type="application/merge-patch+json",
        in_batch=False,
    ),
    Cell(
        "PATCH json-patch",
        "PATCH",
        lambda w: _target(w).path,
        write_object,
        body=lambda w: [{"op": "add", "path": "/data/patched", "value": "yes"}],
        content_type="application/json-patch+json",
        in_batch=False,
    ),
    Cell(
        "PATCH If-Match stale",
        "PATCH",
        lambda w: _target(w).path,
        stale_write,
        body=lambda w: {"data": {"patched": "yes"}},
        headers=lambda w: {"If-Match": '"1"'},
        in_batch=False,
    ),
    Cell(
        "PATCH missing",
        "PATCH",
        _missing_path,
        missing_object,
        body=lambda w: {"data": {"patched": "yes"}},
    ),
    Cell(
        "PATCH missing json-patch",
        "PATCH",
        _missing_path,
        missing_object,
        body=lambda w: [{"op": "add", "path": "/data/patched", "value": "yes"}],
        content_type="application/json-patch+json",
        in_batch=False,
    ),
    Cell("DELETE object", "DELETE", lambda w: _target(w).path, delete_object(_target)),
    Cell("DELETE hidden sibling", "DELETE", lambda w: _hidden(w).path, delete_object(_hidden)),
    Cell("DELETE missing", "DELETE", _missing_path, missing_object),
    Cell("GET list", "GET", lambda w: _target(w).plural_path, list_read),
    Cell("HEAD list", "HEAD", lambda w: _target(w).plural_path, list_head),
    Cell(
        "GET list with tombstones",
        "GET",
        lambda w: _target(w).plural_path + "?_since=0",
        list_with_tombstones,
    ),
    Cell(
        "GET list page",
        "GET",
        lambda w: _target(w).plural_path + "?_sort=marker&_limit=1",
        list_first_page,
        follow_next_page=True,
        in_batch=False,
    ),
    Cell(
        "HEAD list filtered on hidden marker",
        "HEAD",
        lambda w: f"{_target(w).plural_path}?marker={_hidden(w).marker}",
        list_filtered_on_hidden,
    ),
    Cell(
        "POST new",
        "POST",
        lambda w: _target(w).plural_path,
        post_new,
        body=lambda w: {"data": _new_data(w)},
    ),
    Cell(
        "POST new with id",
        "POST",
        lambda w: _target(w).plural_path,
        create_missing,
        body=lambda w: {"data": {**_new_data(w), "id": MISSING_ID}},
        in_batch=False,
    ),
    Cell(
        "POST existing id",
        "POST",
        lambda w: _target(w).plural_path,
        post_existing(_target),
        body=lambda w: {"data": {"id": _target(w).oid, "marker": "posted"}},
    ),
    Cell(
        "POST existing hidden id",
        "POST",
        lambda w: _target(w).plural_path,
        post_existing(_hidden),
        body=lambda w: {"data": {"id": _hidden(w).oid, "marker": "posted"}},
    ),
    Cell(
        "POST existing id If-None-Match *",
        "POST",
        lambda w: _target(w).plural_path,
        post_existing(_target, safe=True),
        body=lambda w: {"data": {"id": _target(w).oid}},
        headers=lambda w: {"If-None-Match": "*"},
    ),
    Cell("DELETE list", "DELETE", lambda w: _target(w).plural_path, list_delete),
]

MISSING_PARENT_CELLS: list[Cell] = [
    Cell("GET list, parent missing", "GET", lambda w: _gone(w), missing_parent_read),
    Cell("GET object, parent missing", "GET", lambda w: _gone(w, MISSING_ID), missing_parent_read),
    Cell(
        "POST, parent missing",
        "POST",
        lambda w: _gone(w),
        missing_parent_write,
        body=lambda w: {"data": _new_data(w)},
    ),
    Cell(
        "PUT, parent missing",
        "PUT",
        lambda w: _gone(w, MISSING_ID),
        missing_parent_write,
        body=lambda w: {"data": _new_data(w)},
    ),
    Cell(
        "PATCH, parent missing",
        "PATCH",
        lambda w: _gone(w, MISSING_ID),
        missing_parent_write,
        body=lambda w: {"data": {"patched": "yes"}},
    ),
    Cell("DELETE, parent missing", "DELETE", lambda w: _gone(w, MISSING_ID), missing_parent_write),
]


def _gone(w: World, object_id: str | None = None) -> str:
    path = f"{MISSING_PARENT[w.resource]}/{PLURAL[w.resource]}"
    return f"{path}/{object_id}" if object_id else path


def cells_for(resource: str) -> list[Cell]:
    return CELLS + (MISSING_PARENT_CELLS if resource != "bucket" else [])


def profile(world: World, caller: Caller, cells: Iterable[Cell]) -> tuple:
    """Everything the model expects a caller to see: callers with equal profiles are
    indistinguishable to the server's code paths under test."""
    expectations = []
    for cell in cells:
        e = cell.expect(world, caller)
        shows_acls = e.acl_of is not None and world.sees_permissions(caller, e.acl_of.acls)
        items = tuple(sorted(e.items)) if e.items is not None else None
        expectations.append(
            (e.status, e.errno, e.object_id, items, e.total, e.existing, e.next_page, shows_acls)
        )
    readable = tuple(sorted(p for p, o in world.objects.items() if world.can(caller, "read", o)))
    return (caller.anonymous, readable, tuple(expectations))


# --- running a cell and judging its outcome --------------------------------------------------


class Headers(dict):
    """Case-insensitive read access to a flat header map (batch sub-responses)."""

    def get(self, key: str, default: Any = None) -> Any:
        for name, value in self.items():
            if name.lower() == key.lower():
                return value
        return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None


@dataclass
class Outcome:
    status: int
    headers: Any
    json: Any
    raw_body: str  # everything the caller received: the whole batch body for sub-requests
    raw_headers: str


def header_text(headers: Any) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


def outcome_of(response: Any) -> Outcome:
    return Outcome(
        response.status,
        response.headers,
        response.json,
        response.content.decode("utf-8", "replace"),
        header_text(response.headers),
    )


def request_of(world: World, cell: Cell) -> tuple[str, Any, dict[str, str]]:
    path = cell.path(world)
    body = cell.body(world) if cell.body else None
    headers = cell.headers(world) if cell.headers else {}
    return path, body, headers


def request_text_of(world: World, cell: Cell) -> str:
    """What the caller itself sent: ids found there are not secrets it discovered."""
    path, body, headers = request_of(world, cell)
    return path + json.dumps(body) + json.dumps(headers)


def run(built: Built, caller: Caller, cell: Cell, batch: bool = False) -> tuple[Outcome, str]:
    """Send a cell's request (directly or as the only sub-request of a batch)."""
    if batch:
        return run_batch(built, caller, [cell])[0]
    path, body, headers = request_of(built.world, cell)
    response = built.api.request(
        cell.method,
        path,
        body,
        headers=headers,
        content_type=cell.content_type if body is not None else None,
        user=caller.auth,
    )
    return outcome_of(response), request_text_of(built.world, cell)


def run_batch(built: Built, caller: Caller, cells: list[Cell]) -> list[tuple[Outcome, str]]:
    """Send cells as the sub-requests of one batch; each outcome is judged on its own item
    (its status, headers and body) plus the headers of the batch response."""
    subrequests = []
    for cell in cells:
        path, body, headers = request_of(built.world, cell)
        sub: dict[str, Any] = {"method": cell.method, "path": path}
        if headers:
            sub["headers"] = headers
        if body is not None:
            sub["body"] = body
        subrequests.append(sub)
    response = built.api.request("POST", "/batch", {"requests": subrequests}, user=caller.auth)
    assert response.status == 200, response
    outer = outcome_of(response)
    outcomes = []
    for cell, item in zip(cells, response.json["responses"], strict=True):
        item_body = item["body"] if item["body"] != "" else None
        raw = json.dumps(item, ensure_ascii=False) if len(cells) > 1 else outer.raw_body
        outcome = Outcome(
            item["status"], Headers(item["headers"]), item_body, raw, outer.raw_headers
        )
        outcomes.append((outcome, request_text_of(built.world, cell)))
    return outcomes


TOKEN = re.compile(r"_token=([^&\s\"']+)")


def decoded_tokens(text: str) -> Iterator[str]:
    """Pagination tokens found in a response, decoded (they are base64 JSON)."""
    for match in TOKEN.finditer(text):
        raw = unquote(unquote(match.group(1)))
        try:
            yield base64.b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8", "replace")
        except ValueError:
            yield raw


def without_permissions(value: Any) -> Any:
    """The body with every `permissions` member removed (they are judged on their own)."""
    if isinstance(value, dict):
        return {k: without_permissions(v) for k, v in value.items() if k != "permissions"}
    if isinstance(value, list):
        return [without_permissions(v) for v in value]
    return value


def forbidden_strings(world: World, caller: Caller, request_text: str) -> dict[str, str]:
    """Markers of every object the caller may not read, and their ids unless the caller named
    them itself."""
    forbidden = {}
    for obj in world.objects.values():
        if world.can(caller, "read", obj):
            continue
        forbidden[obj.marker] = f"marker of {obj.path}"
        if obj.oid not in request_text:
            forbidden[obj.oid] = f"id of {obj.path}"
    if not world.can_list(caller, "read", world.resource, _parent(world)):
        for oid in world.tombstones:
            forbidden[oid] = f"id of the deleted {world.resource} {oid}"
    return forbidden


def judge(
    world: World,
    caller: Caller,
    cell: Cell,
    outcome: Outcome,
    expected: Expect,
    request_text: str,
    batch: bool,
) -> list[str]:
    """Every way the outcome differs from the expectation (empty = the cell passes)."""
    problems: list[str] = []
    body = outcome.json
    if outcome.status != expected.status:
        problems.append(f"status {outcome.status}, expected {expected.status}: {str(body)[:200]}")
        return problems
    if expected.errno is not None and cell.method != "HEAD":
        errno = body.get("errno") if isinstance(body, dict) else None
        if errno != expected.errno:
            problems.append(f"errno {errno}, expected {expected.errno}")
    if expected.status == 401 and not batch and "WWW-Authenticate" not in outcome.headers:
        problems.append("401 without WWW-Authenticate")
    if expected.object_id is not None and cell.method != "HEAD":
        data = (body or {}).get("data") or {}
        if data.get("id") != expected.object_id:
            problems.append(f"data.id {data.get('id')!r}, expected {expected.object_id!r}")
    if expected.items is not None:
        ids = {item.get("id") for item in (body or {}).get("data", [])}
        if ids != expected.items:
            problems.append(f"items {sorted(ids)}, expected {sorted(expected.items)}")
    if expected.first_item is not None:
        first = ((body or {}).get("data") or [{}])[0].get("id")
        if first != expected.first_item:
            problems.append(f"first item {first!r}, expected {expected.first_item!r}")
    if expected.next_page is not None:
        has_next = "Next-Page" in outcome.headers
        if has_next != expected.next_page:
            problems.append(f"Next-Page present: {has_next}, expected {expected.next_page}")
    if expected.total is not None:
        total = outcome.headers.get("Total-Objects")
        if total != str(expected.total):
            problems.append(f"Total-Objects {total!r}, expected {expected.total}")
        if outcome.headers.get("Total-Records") not in (None, str(expected.total)):
            problems.append(f"Total-Records {outcome.headers.get('Total-Records')!r}")
    if expected.status == 412:
        details = (body or {}).get("details") or {}
        existing = details.get("existing")
        if expected.existing is None and existing is not None:
            problems.append("412 shows details.existing to a caller who may not read it")
        if expected.existing and (existing or {}).get("id") != expected.existing:
            problems.append(f"412 details.existing {existing!r}, expected {expected.existing!r}")
    problems += judge_permissions(world, caller, outcome, expected)
    problems += judge_leaks(world, caller, outcome, request_text)
    return problems


def judge_permissions(world: World, caller: Caller, outcome: Outcome, expected: Expect) -> list:
    body = outcome.json
    if not isinstance(body, dict) or "permissions" not in body:
        return []
    shown = body["permissions"]
    if isinstance(body.get("data"), list):
        return ["a list carries permissions"]
    obj = expected.acl_of
    if obj is None:
        return [f"unexpected permissions {shown!r}"] if shown else []
    acls = {name: set(principals) for name, principals in obj.acls.items()}
    if expected.written and world.explicit_permissions:
        acls["write"] = acls["write"] | {caller.user_id or EVERYONE}
    if world.sees_permissions(caller, acls):
        if "write" not in shown or not world.principals(caller) & set(shown["write"]):
            return [f"permissions {shown!r}: the caller is in `write` and should see them"]
        stored = {k: sorted(v) for k, v in obj.acls.items() if v and k != "write"}
        if not expected.written and {k: sorted(v) for k, v in shown.items() if k != "write"} != (
            stored
        ):
            return [f"permissions {shown!r}, stored {stored!r}"]
        return []
    return [f"permissions shown to a caller not in `write`: {shown!r}"] if shown else []


def judge_leaks(world: World, caller: Caller, outcome: Outcome, request_text: str) -> list[str]:
    """Markers and ids of objects the caller may not read, anywhere in what it received:
    body (ACLs aside), headers, and decoded pagination tokens."""
    forbidden = forbidden_strings(world, caller, request_text)
    try:
        body = json.dumps(without_permissions(json.loads(outcome.raw_body)), ensure_ascii=False)
    except ValueError:
        body = outcome.raw_body
    everything = outcome.raw_body + "\n" + outcome.raw_headers
    scanned = "\n".join([body, outcome.raw_headers, *decoded_tokens(everything)])
    return [f"leaks the {what}" for needle, what in forbidden.items() if needle in scanned]


def ordered_visible(world: World, caller: Caller) -> list[str]:
    """The ids a `?_sort=marker` list shows the caller, in order."""
    items = visible_items(world, caller, world.resource, _parent(world), "read") or set()
    children = world.children(world.resource, _parent(world))
    return [o.oid for o in sorted(children, key=lambda o: o.marker) if o.oid in items]


def follow_next_page(built: Built, caller: Caller, outcome: Outcome) -> Outcome | None:
    """GET the `Next-Page` URL, as a client would (same credentials)."""
    url = outcome.headers.get("Next-Page")
    if not url:
        return None
    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    return outcome_of(built.api.request("GET", path, None, user=caller.auth))
