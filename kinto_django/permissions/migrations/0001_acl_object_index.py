"""An index on (content type, object) for both ACL tables of django-guardian.

Every request reads "the ACLs of this object"; guardian's own indexes all start with the
permission or the principal, so without this one that lookup scans every ACL row of the type.
On PostgreSQL the index is built concurrently: a live server keeps writing while it builds.
"""

from django.db import migrations

TABLES = {
    "guardian_userobjectpermission": "kinto_uop_object_idx",
    "guardian_groupobjectpermission": "kinto_gop_object_idx",
}


def create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for table, name in TABLES.items():
        schema_editor.execute(
            f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table} "
            "(content_type_id, object_pk)"
        )


def drop(apps, schema_editor):
    for name in TABLES.values():
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more")
    ]

    operations = [migrations.RunPython(create, drop)]
