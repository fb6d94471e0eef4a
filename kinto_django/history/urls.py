from kinto_django.core.api.routes import switched_route
from kinto_django.history.recording import history_enabled
from kinto_django.history.snapshot import SnapshotView
from kinto_django.history.viewsets import HistoryViewSet

urlpatterns = [
    # Only the list: `/history/{id}` is left to the JSON 404 (spec/07).
    switched_route(
        r"^buckets/(?P<bucket_id>[^/]+)/history$",
        HistoryViewSet.as_view(endpoint="plural"),
        history_enabled,
        "history-plural",
    ),
    switched_route(
        r"^buckets/(?P<bucket_id>[^/]+)/snapshot/collections/(?P<collection_id>[^/]+)"
        r"@(?P<timestamp>[^/]+)$",
        SnapshotView.as_view(),
        history_enabled,
        "history-snapshot",
    ),
]
