"""Records speak the engine's resource protocol unchanged."""

from kinto_django.core.api.viewsets import ResourceViewSet
from kinto_django.records.models import Record


class RecordViewSet(ResourceViewSet):
    model = Record
