"""The tables that hold ACLs and group memberships by principal string (see `models`)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("kinto_permissions", "0001_acl_object_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="Membership",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("group_uri", models.CharField(max_length=300)),
                ("member", models.CharField(max_length=300)),
            ],
            options={
                "indexes": [models.Index(fields=["member"], name="kinto_membership_member")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("group_uri", "member"), name="kinto_membership_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="Grant",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("object_pk", models.CharField(max_length=255, verbose_name="object ID")),
                ("principal", models.CharField(max_length=300)),
                (
                    "content_type",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, to="contenttypes.contenttype"
                    ),
                ),
                (
                    "permission",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, to="auth.permission"
                    ),
                ),
            ],
            options={
                "verbose_name": "grant",
                "indexes": [
                    models.Index(
                        fields=["principal", "content_type", "object_pk"],
                        name="kinto_grant_principal",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("content_type", "object_pk", "permission", "principal"),
                        name="kinto_grant_unique",
                    )
                ],
            },
        ),
    ]
