"""Where ACLs and group memberships live: tables of this app, never the site's users or groups.

A principal is stored as its string (`account:ana`, `django:bob`, `system.Authenticated`, a
group URI): nothing needs creating before a grant, no row of a host site's user model stands
for an API user, and removing a principal is one statement per table. A grant is still a
django-guardian generic object permission (content type, object pk, auth permission), held
by a principal string instead of a user or group row.
"""

from __future__ import annotations

from django.db import models
from guardian.models import BaseGenericObjectPermission, BaseObjectPermission

from kinto_django.permissions.identity import MAX_PRINCIPAL_LENGTH


class Grant(BaseObjectPermission, BaseGenericObjectPermission):
    """`principal` holds the ACL `permission` (e.g. `read_record`) on one object."""

    principal = models.CharField(max_length=MAX_PRINCIPAL_LENGTH)

    class Meta:
        verbose_name = "grant"
        constraints = [
            # Also the index of "the ACLs of this object", read on every request.
            models.UniqueConstraint(
                fields=["content_type", "object_pk", "permission", "principal"],
                name="kinto_grant_unique",
            )
        ]
        indexes = [
            # What one principal holds: permission checks of lists, `/permissions`, removals.
            models.Index(
                fields=["principal", "content_type", "object_pk"], name="kinto_grant_principal"
            )
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.permission.codename} {self.object_pk}"


class Membership(models.Model):
    """`member` belongs to the group `group_uri`. The member `system.Authenticated` makes
    every authenticated caller a member."""

    group_uri = models.CharField(max_length=MAX_PRINCIPAL_LENGTH)
    member = models.CharField(max_length=MAX_PRINCIPAL_LENGTH)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group_uri", "member"], name="kinto_membership_unique")
        ]
        indexes = [models.Index(fields=["member"], name="kinto_membership_member")]

    def __str__(self) -> str:
        return f"{self.member} in {self.group_uri}"
