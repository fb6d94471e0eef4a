from buckets.viewsets import BucketViewSet, CollectionViewSet, GroupViewSet
from core.urls import resource_urls

urlpatterns = [
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
