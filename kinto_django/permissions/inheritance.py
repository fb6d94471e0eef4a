"""Which stored ACLs grant which permission: the inheritance table of spec/04, as data.

`GRANTED_BY[(resource, permission)]` maps each level of the object's ancestry to the ACL names
that grant the permission from that level. A list read is the same lookup with the object
itself absent (records: bucket or collection `read`/`write`).
"""

from __future__ import annotations

GRANTED_BY: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("bucket", "read"): {"bucket": ("write", "read", "collection:create", "group:create")},
    ("bucket", "write"): {"bucket": ("write",)},
    ("bucket", "collection:create"): {"bucket": ("write", "collection:create")},
    ("bucket", "group:create"): {"bucket": ("write", "group:create")},
    ("collection", "read"): {
        "bucket": ("write", "read"),
        "collection": ("write", "read", "record:create"),
    },
    ("collection", "write"): {"bucket": ("write",), "collection": ("write",)},
    ("collection", "record:create"): {
        "bucket": ("write",),
        "collection": ("write", "record:create"),
    },
    ("group", "read"): {"bucket": ("write", "read"), "group": ("write", "read")},
    ("group", "write"): {"bucket": ("write",), "group": ("write",)},
    ("record", "read"): {
        "bucket": ("write", "read"),
        "collection": ("write", "read"),
        "record": ("write", "read"),
    },
    ("record", "write"): {"bucket": ("write",), "collection": ("write",), "record": ("write",)},
    # Accounts have no parent: their own ACL (the account itself) and the account_*_principals
    # settings (admins) are all there is.
    ("account", "read"): {"account": ("write", "read")},
    ("account", "write"): {"account": ("write",)},
}

# Settings that grant a permission on every object of a type: `<type>_<perm>_principals`.
# Holding write implies read, as it does through ACLs, and creating below a parent (the
# parent's `write` grants `<type>:create`; as the reference). Types without a parent
# (buckets, accounts) are created only through their `create` setting.
SETTINGS_IMPLIED: dict[str, tuple[str, ...]] = {
    "read": ("read", "write"),
    "write": ("write",),
    "create": ("create", "write"),
}
ROOT_SETTINGS_IMPLIED: dict[str, tuple[str, ...]] = {**SETTINGS_IMPLIED, "create": ("create",)}


def settings_implying(resource_name: str, permission: str) -> tuple[str, ...]:
    """The `<type>_<perm>_principals` settings that grant `permission` on `resource_name`."""
    table = SETTINGS_IMPLIED if PARENT_RESOURCE.get(resource_name) else ROOT_SETTINGS_IMPLIED
    return table[permission]


def granting_acls(resource_name: str, permission: str) -> dict[str, tuple[str, ...]]:
    """ACL names per ancestry level that grant `permission` on a `resource_name` object."""
    return GRANTED_BY[(resource_name, permission)]


# The type whose ACLs hold `<type>:create` for each resource type (buckets: settings only).
PARENT_RESOURCE: dict[str, str | None] = {
    "bucket": None,
    "collection": "bucket",
    "group": "bucket",
    "record": "collection",
    "account": None,
}


def acl_key(resource_name: str, permission: str) -> tuple[str, str] | None:
    """The GRANTED_BY entry for `permission` ∈ read/write/create on `resource_name`."""
    if permission == "create":
        parent = PARENT_RESOURCE[resource_name]
        return (parent, f"{resource_name}:create") if parent else None
    return (resource_name, permission)


# Permissions an ACL implies on the same object (spec/04: what `GET /permissions` lists for
# it); any other ACL implies only itself.
IMPLIED_ON_SAME_OBJECT: dict[tuple[str, str], tuple[str, ...]] = {
    ("bucket", "write"): ("write", "read", "read:attributes", "collection:create", "group:create"),
    ("bucket", "read"): ("read", "read:attributes"),
    ("bucket", "collection:create"): ("collection:create", "read:attributes"),
    ("bucket", "group:create"): ("group:create", "read:attributes"),
    ("collection", "write"): ("write", "read", "read:attributes", "record:create"),
    ("collection", "read"): ("read", "read:attributes"),
    ("collection", "record:create"): ("record:create", "read:attributes"),
    ("group", "write"): ("write", "read"),
    ("record", "write"): ("write", "read"),
    ("account", "write"): ("write", "read"),
}


def implied_on_same_object(resource_name: str, acl_name: str) -> tuple[str, ...]:
    """The permissions an ACL entry gives on its own object."""
    return IMPLIED_ON_SAME_OBJECT.get((resource_name, acl_name), (acl_name,))
