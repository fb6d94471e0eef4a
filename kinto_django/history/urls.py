from kinto_django.core.api.routes import ResourceRouter, switched_route
from kinto_django.history.recording import history_enabled
from kinto_django.history.snapshot import SnapshotView
from kinto_django.history.viewsets import HistoryViewSet

# Only the list (the viewset has no object action): `/history/{id}` is left to the JSON 404
# (spec/07).
router = ResourceRouter()
router.register(
    r"buckets/(?P<bucket_id>[^/]+)/history", HistoryViewSet, "history", history_enabled
)

urlpatterns = [
    *router.urls,
    switched_route(
        r"^buckets/(?P<bucket_id>[^/]+)/snapshot/collections/(?P<collection_id>[^/]+)"
        r"@(?P<timestamp>[^/]+)$",
        SnapshotView.as_view(),
        history_enabled,
        "history-snapshot",
    ),
]
