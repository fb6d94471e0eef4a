"""`POST /__flush__` (spec/07): erase every stored object, ACL and cached value, for test
servers. Off unless `flush_endpoint_enabled` (refused in production mode) or `includes`
names `kinto.plugins.flush`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse

from kinto_django.conf import plugin_enabled
from kinto_django.core import capabilities, chain, timestamps
from kinto_django.core.api.endpoints.utility import UtilityView
from kinto_django.core.api.responses import json_response
from kinto_django.core.models import ListTimestamp, ResourceModel, resource_types
from kinto_django.core.signals import server_flushed
from kinto_django.permissions import service as permissions


def flush_enabled() -> bool:
    return plugin_enabled("flush_endpoint_enabled", "kinto.plugins.flush")


def resource_models() -> list[type[ResourceModel]]:
    """Every concrete resource type of the installed apps, children before their parents."""

    def depth(model: type[ResourceModel]) -> int:
        return len(chain.parent_models(model))

    return sorted(resource_types(), key=depth, reverse=True)


def flush_everything() -> None:
    """Erase all objects, list timestamps, ACLs, engine principals and the cache in one
    transaction; `server_flushed` is sent once it has committed."""
    with transaction.atomic():
        models = resource_models()
        # No write is under way while everything is erased, and none starts before commit.
        timestamps.exclude_writes()
        for model in models:
            model.on_purged(model.objects.all())
        permissions.forget_everything(models)
        for model in models:
            model.objects.all().delete()
        ListTimestamp.objects.all().delete()
        cache.clear()
        transaction.on_commit(lambda: server_flushed.send(sender=None), robust=True)


class FlushView(UtilityView):
    """`POST /__flush__`: 202 `{}`; no authentication (development and test servers only)."""

    allowed_methods = ("POST",)
    body_types: ClassVar[dict[str, tuple[str, ...]]] = {}  # no body: any Content-Type will do

    def post(self, request: Any) -> HttpResponse:
        flush_everything()
        return json_response({}, 202)


capabilities.register(
    capabilities.Feature(
        name="flush_endpoint",
        description="POST /__flush__ erases every object, permission and cached value.",
        url="https://kinto.readthedocs.io/en/latest/api/1.x/flush.html",
        enabled=flush_enabled,
    )
)
