from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """Records: the JSON documents stored in collections."""

    name = "kinto_django.records"
    label = "kinto_records"
    verbose_name = "Kinto records"
    default_auto_field = "django.db.models.BigAutoField"
    kinto_urls = "kinto_django.records.urls"
