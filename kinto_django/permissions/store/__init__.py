"""ACL and membership persistence, on this app's own tables (`kinto_django.permissions.models`).

A principal is its string: a user id (`account:ana`, `django:bob`, `basicauth:…`), a `system.*`
principal or a group URI. Nothing is stored in a host site's user or group tables. Only this
package touches the tables; the service reaches it through the names below.
"""

from __future__ import annotations

from kinto_django.permissions.store.acls import (
    add_principal,
    count_acl_entries,
    purge_acls,
    read_acls,
    read_acls_by_pk,
    read_acls_of_many,
    write_acls,
    write_acls_by_pk,
)
from kinto_django.permissions.store.checks import (
    any_grant,
    grant_and_acls,
    grant_exists_expression,
    granted_acls_sql,
)
from kinto_django.permissions.store.groups import (
    forget_everything,
    forget_groups,
    group_principals_of,
    group_principals_of_many,
    groups_having_members,
    revoke_users,
    set_group_members,
    set_members_of_groups,
)
from kinto_django.permissions.store.rows import clear_caches

__all__ = [
    "add_principal",
    "any_grant",
    "clear_caches",
    "count_acl_entries",
    "forget_everything",
    "forget_groups",
    "grant_and_acls",
    "grant_exists_expression",
    "granted_acls_sql",
    "group_principals_of",
    "group_principals_of_many",
    "groups_having_members",
    "purge_acls",
    "read_acls",
    "read_acls_by_pk",
    "read_acls_of_many",
    "revoke_users",
    "set_group_members",
    "set_members_of_groups",
    "write_acls",
    "write_acls_by_pk",
]
