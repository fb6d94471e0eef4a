from kinto_django.buckets.default_bucket import DefaultBucketView, default_bucket_enabled
from kinto_django.buckets.viewsets import BucketViewSet, CollectionViewSet, GroupViewSet
from kinto_django.core.api.routes import ResourceRouter, switched_route

BUCKET = r"buckets/(?P<bucket_id>[^/]+)"

router = ResourceRouter()
router.register(r"buckets", BucketViewSet, "bucket")
router.register(rf"{BUCKET}/collections", CollectionViewSet, "collection")
router.register(rf"{BUCKET}/groups", GroupViewSet, "group")

default_bucket = DefaultBucketView.as_view()

urlpatterns = [
    # The personal bucket, when enabled: before the bucket routes, which it then shadows. A
    # path ending with "/" is left to the trailing-slash redirect (to the alias path).
    switched_route(r"^buckets/default$", default_bucket, default_bucket_enabled, "default-bucket"),
    switched_route(
        r"^buckets/default/(?P<subpath>[\s\S]*[^/])$",
        default_bucket,
        default_bucket_enabled,
        "default-bucket-subpath",
    ),
    *router.urls,
]
