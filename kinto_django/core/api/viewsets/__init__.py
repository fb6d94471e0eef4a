"""The resource protocol (spec/01–03), written once for every resource type.

`ResourceViewSet` is assembled from small mixins, one concern each; an app's viewset only
names its model (the model describes its resource name, parent, ACL names and hooks)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse

from kinto_django.core.api.responses import timestamp_headers
from kinto_django.core.api.viewsets.destroy import DestroyMixin
from kinto_django.core.api.viewsets.listing import ListMixin
from kinto_django.core.api.viewsets.patch import PatchMixin
from kinto_django.core.api.viewsets.preconditions import NotModified
from kinto_django.core.api.viewsets.resource import WRITE_METHODS
from kinto_django.core.api.viewsets.retrieve import RetrieveMixin
from kinto_django.core.api.viewsets.upsert import UpsertMixin


class ResourceViewSet(ListMixin, RetrieveMixin, UpsertMixin, PatchMixin, DestroyMixin):
    """Every method of the plural and object endpoints of one resource type."""

    # --- dispatch by endpoint -------------------------------------------------------------

    def get(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.list_objects if self.endpoint == "plural" else self.retrieve)

    def head(self, request: Any, **kwargs: Any) -> HttpResponse:
        if self.endpoint == "plural":
            return self.run(lambda: self.list_objects(head=True))
        return self.run(lambda: self.strip_body(self.retrieve()))

    def post(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.create)

    def put(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.upsert)

    def patch(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.partial_update)

    def delete(self, request: Any, **kwargs: Any) -> HttpResponse:
        return self.run(self.delete_list if self.endpoint == "plural" else self.destroy)

    def run(self, handler) -> HttpResponse:
        """Run a handler; writes run in one transaction, from the first read to the write,
        so that preconditions and merges are judged on rows locked until commit."""
        try:
            if self.request.method in WRITE_METHODS:
                # In a batch, the sub-request's savepoint already bounds this write.
                with transaction.atomic(savepoint=self.batch() is None):
                    self.lock_scope()
                    response = handler()
            else:
                response = handler()
            return self.finish(response)
        except NotModified as not_modified:
            return HttpResponse(status=304, headers=timestamp_headers(not_modified.timestamp))

    @staticmethod
    def strip_body(response: HttpResponse) -> HttpResponse:
        """HEAD: the GET response's headers, `Content-Length` included, without the body."""
        response["Content-Length"] = str(len(response.content))
        response.content = b""
        return response
