from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def restore_memberships(model: Any, groups: list[Any]) -> None:
    """After a restore: the memberships of the restored groups, in a few queries per chunk
    (a group restored as a tombstone has no members)."""
    from kinto_django.permissions import service as permissions

    permissions.set_members_of_groups(
        {group.uri: [] if group.deleted else group.data.get("members", []) for group in groups}
    )


class BucketsConfig(AppConfig):
    """Buckets and what lives directly in them: collections and groups."""

    name = "kinto_django.buckets"
    label = "kinto_buckets"
    verbose_name = "Kinto buckets"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "kinto_django.buckets.urls"

    def ready(self) -> None:
        from kinto_django.buckets import checks  # noqa: F401 (registers the system checks)
        from kinto_django.buckets.default_bucket import default_bucket_enabled, user_bucket
        from kinto_django.buckets.models import drop_removed_members
        from kinto_django.conf import declare_settings
        from kinto_django.core import capabilities
        from kinto_django.core.backup import kinds
        from kinto_django.core.signals import principals_removed

        declare_settings("default_bucket_hmac_secret")

        principals_removed.connect(drop_removed_members, dispatch_uid="kinto-group-members")
        kinds.register("group", restored=restore_memberships)

        capabilities.register(
            capabilities.Feature(
                name="default_bucket",
                description=(
                    "/buckets/default is the caller's personal bucket; it and its "
                    "collections are created on first use."
                ),
                url="https://kinto.readthedocs.io/en/latest/api/1.x/buckets.html#personal-bucket-default",
                enabled=default_bucket_enabled,
                user_extras=user_bucket,
            )
        )
