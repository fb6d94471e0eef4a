"""Buckets, collections and groups speak the engine's resource protocol unchanged."""

from kinto_django.buckets.models import Bucket, Collection, Group
from kinto_django.core.api.viewsets import ResourceViewSet


class BucketViewSet(ResourceViewSet):
    model = Bucket


class CollectionViewSet(ResourceViewSet):
    model = Collection


class GroupViewSet(ResourceViewSet):
    model = Group
