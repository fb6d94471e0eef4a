"""Records speak the engine's resource protocol unchanged."""

from core.viewsets import ResourceViewSet
from records.models import Record


class RecordViewSet(ResourceViewSet):
    model = Record
