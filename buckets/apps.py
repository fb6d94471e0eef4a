from django.apps import AppConfig


class BucketsConfig(AppConfig):
    """Buckets and what lives directly in them: collections and groups."""

    name = "buckets"
    label = "kinto_buckets"
    verbose_name = "Kinto buckets"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "buckets.urls"

    def ready(self) -> None:
        from buckets.default_bucket import default_bucket_enabled, user_bucket
        from buckets.models import drop_removed_members
        from core import capabilities
        from core.signals import principals_removed

        principals_removed.connect(drop_removed_members, dispatch_uid="kinto-group-members")

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
