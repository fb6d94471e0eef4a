from kinto_django.core.api.routes import ResourceRouter
from kinto_django.records.viewsets import RecordViewSet

router = ResourceRouter()
router.register(
    r"buckets/(?P<bucket_id>[^/]+)/collections/(?P<collection_id>[^/]+)/records",
    RecordViewSet,
    "record",
)

urlpatterns = router.urls
