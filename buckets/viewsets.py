"""Buckets, collections and groups speak the engine's resource protocol unchanged."""

from buckets.models import Bucket, Collection, Group
from core.viewsets import ResourceViewSet


class BucketViewSet(ResourceViewSet):
    model = Bucket


class CollectionViewSet(ResourceViewSet):
    model = Collection


class GroupViewSet(ResourceViewSet):
    model = Group
