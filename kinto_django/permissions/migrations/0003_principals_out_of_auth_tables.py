"""Move ACLs and memberships into this app's tables, and the principals out of the site's.

Before this migration, each user id was stored as a row of the user model (`account:ana`,
`basicauth:…`, `django:bob`, and every group member), each `system.*` principal and group URI
as a row of auth's `Group`, grants in guardian's user and group object-permission tables and
memberships in the user model's `groups` relation. This copies the grants on the storage apps'
objects and the memberships of group URIs, then deletes what the API had created: those
grants, the memberships, the groups named like principals, and the users named like one (a
`:` in the name, or a `system.`/`/` prefix) that have an empty password, which no user signed
up through Django has. Users named like a plain word that were only group members (`bob`) are
kept: they cannot be told apart from the site's own.

Not reversible: the earlier layout is what lost grants on sites with a custom user model.
"""

from django.conf import settings
from django.db import migrations

STORAGE_APPS = (
    "kinto_core",
    "kinto_buckets",
    "kinto_records",
    "kinto_accounts",
    "kinto_history",
    "kinto_notifications",
)


def move(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    UserGrant = apps.get_model("guardian", "UserObjectPermission")
    GroupGrant = apps.get_model("guardian", "GroupObjectPermission")
    Grant = apps.get_model("kinto_permissions", "Grant")
    Membership = apps.get_model("kinto_permissions", "Membership")
    qn = schema_editor.quote_name
    username_field = _username_field(User._meta.label)
    username = User._meta.get_field(username_field).column
    types = list(
        ContentType.objects.filter(app_label__in=STORAGE_APPS).values_list("pk", flat=True)
    )
    grants = qn(Grant._meta.db_table)
    users, user_pk = qn(User._meta.db_table), qn(User._meta.pk.column)
    groups = qn(Group._meta.db_table)
    run = schema_editor.execute
    if types:
        in_types = f"IN ({', '.join(str(int(pk)) for pk in types)})"
        run(
            f"INSERT INTO {grants} (content_type_id, object_pk, permission_id, principal) "
            f"SELECT p.content_type_id, p.object_pk, p.permission_id, u.{qn(username)} "
            f"FROM {qn(UserGrant._meta.db_table)} p JOIN {users} u ON u.{user_pk} = p.user_id "
            f"WHERE p.content_type_id {in_types} "
            "UNION SELECT p.content_type_id, p.object_pk, p.permission_id, g.name "
            f"FROM {qn(GroupGrant._meta.db_table)} p JOIN {groups} g ON g.id = p.group_id "
            f"WHERE p.content_type_id {in_types}"
        )
        UserGrant.objects.filter(content_type_id__in=types)._raw_delete(
            schema_editor.connection.alias
        )
        GroupGrant.objects.filter(content_type_id__in=types)._raw_delete(
            schema_editor.connection.alias
        )
    principal_groups = Group.objects.filter(name__startswith="/") | Group.objects.filter(
        name__startswith="system."
    )
    relation = next((f for f in User._meta.many_to_many if f.name == "groups"), None)
    if relation is not None:
        through = relation.remote_field.through
        user_column = through._meta.get_field(relation.m2m_field_name()).column
        group_column = through._meta.get_field(relation.m2m_reverse_field_name()).column
        run(
            f"INSERT INTO {qn(Membership._meta.db_table)} (group_uri, member) "
            f"SELECT DISTINCT g.name, u.{qn(username)} FROM {qn(through._meta.db_table)} m "
            f"JOIN {groups} g ON g.id = m.{qn(group_column)} "
            f"JOIN {users} u ON u.{user_pk} = m.{qn(user_column)} "
            "WHERE g.name LIKE %s",
            ["/%"],
        )
    principal_groups.delete()
    named_like_principals = (
        User.objects.filter(**{f"{username_field}__contains": ":"})
        | User.objects.filter(**{f"{username_field}__startswith": "system."})
        | User.objects.filter(**{f"{username_field}__startswith": "/"})
    )
    if any(f.name == "password" for f in User._meta.concrete_fields):
        named_like_principals.filter(password="").delete()


def drop_guardian_indexes(apps, schema_editor):
    """The indexes 0001 added to guardian's tables serve nothing of ours any more."""
    for name in ("kinto_uop_object_idx", "kinto_gop_object_idx"):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def _username_field(label: str) -> str:
    """The user model's `USERNAME_FIELD` (historical models do not keep class attributes)."""
    from django.apps import apps as current_apps

    return current_apps.get_model(label).USERNAME_FIELD


class Migration(migrations.Migration):
    dependencies = [
        ("kinto_permissions", "0002_grants_and_memberships"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(move, elidable=False),
        migrations.RunPython(drop_guardian_indexes, elidable=False),
    ]
