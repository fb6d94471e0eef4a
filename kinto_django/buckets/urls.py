from kinto_django.buckets.default_bucket import DefaultBucketView, default_bucket_enabled
from kinto_django.buckets.viewsets import BucketViewSet, CollectionViewSet, GroupViewSet
from kinto_django.core.api.routes import resource_urls, switched_route

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
    *resource_urls(BucketViewSet, "buckets", "buckets/<str:id>", "bucket"),
    *resource_urls(
        CollectionViewSet,
        "buckets/<str:bucket_id>/collections",
        "buckets/<str:bucket_id>/collections/<str:id>",
        "collection",
    ),
    *resource_urls(
        GroupViewSet,
        "buckets/<str:bucket_id>/groups",
        "buckets/<str:bucket_id>/groups/<str:id>",
        "group",
    ),
]
