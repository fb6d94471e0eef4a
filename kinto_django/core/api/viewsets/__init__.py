"""The resource protocol (spec/01–03), written once for every resource type.

`ResourceViewSet` is assembled from small mixins, one concern each; an app's viewset only
names its model (the model describes its resource name, parent, ACL names and hooks)."""

from __future__ import annotations

from rest_framework.viewsets import ViewSetMixin

from kinto_django.core.api.viewsets.destroy import DestroyMixin
from kinto_django.core.api.viewsets.listing import ListMixin
from kinto_django.core.api.viewsets.patch import PatchMixin
from kinto_django.core.api.viewsets.retrieve import RetrieveMixin
from kinto_django.core.api.viewsets.upsert import UpsertMixin


class ResourceViewSet(
    ViewSetMixin, ListMixin, RetrieveMixin, UpsertMixin, PatchMixin, DestroyMixin
):
    """The plural and object endpoints of one resource type, routed by action
    (`kinto_django.core.api.routes.ResourceRouter`): on the list `list`, `list_head`,
    `create` and `destroy_list`; on an object `retrieve`, `retrieve_head`, `update`,
    `partial_update` and `destroy`. An app's viewset only names its model."""

    # Any id reaches the view, which answers 400 for an invalid one (spec/01).
    lookup_field = "id"
    lookup_value_regex = "[^/]+"


class ListViewSet(ViewSetMixin, ListMixin):
    """A list without objects of its own (the history): `list`, `list_head`, `destroy_list`."""
