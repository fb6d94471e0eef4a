from django.apps import AppConfig


class BucketsConfig(AppConfig):
    """Buckets and what lives directly in them: collections and groups."""

    name = "buckets"
    label = "kinto_buckets"
    verbose_name = "Kinto buckets"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "buckets.urls"
