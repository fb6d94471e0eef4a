"""ACL persistence on django-guardian's generic object-permission tables.

Principals map onto Django's own models so that the Django admin and a host site's users see
the same ACLs: a user id (`account:ana`, `basicauth:…`, any other string) is a `User` whose
username is that string; `system.*` principals and group URIs are `Group`s. Only this package
touches the guardian, user and group tables; the service reaches it through the names below.
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
from kinto_django.permissions.store.rows import (
    clear_caches,
    content_type_id,
    ensure_principals,
    is_group_principal,
    is_user_principal,
    permission_codenames,
    permission_ids,
    username_field,
)

__all__ = [
    "add_principal",
    "any_grant",
    "clear_caches",
    "content_type_id",
    "count_acl_entries",
    "ensure_principals",
    "forget_everything",
    "forget_groups",
    "grant_and_acls",
    "grant_exists_expression",
    "granted_acls_sql",
    "group_principals_of",
    "group_principals_of_many",
    "groups_having_members",
    "is_group_principal",
    "is_user_principal",
    "permission_codenames",
    "permission_ids",
    "purge_acls",
    "read_acls",
    "read_acls_by_pk",
    "read_acls_of_many",
    "revoke_users",
    "set_group_members",
    "set_members_of_groups",
    "username_field",
    "write_acls",
    "write_acls_by_pk",
]
