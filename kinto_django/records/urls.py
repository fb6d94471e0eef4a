from kinto_django.core.api.routes import resource_urls
from kinto_django.records.viewsets import RecordViewSet

RECORDS = "buckets/<str:bucket_id>/collections/<str:collection_id>/records"

urlpatterns = resource_urls(RecordViewSet, RECORDS, RECORDS + "/<str:id>", "record")
