"""One object: how it is found (alive, tombstone or absent), authorized and read."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from kinto_django import errors
from kinto_django.core.api.responses import (
    OBJECT_EXPOSED,
    expose,
)
from kinto_django.core.api.viewsets.caching import CacheHeadersMixin
from kinto_django.core.api.viewsets.envelope import EnvelopeMixin
from kinto_django.core.api.viewsets.preconditions import PreconditionsMixin
from kinto_django.core.api.viewsets.resource import WRITE_METHODS
from kinto_django.core.models import ResourceModel
from kinto_django.core.query.fields import project_fields
from kinto_django.core.query.params import querystring_params


class ObjectMixin(PreconditionsMixin, CacheHeadersMixin, EnvelopeMixin):
    """The addressed object of an object endpoint: found alive, as a tombstone or absent, and
    authorized so that an absent object is a 404 only for readers of its list."""

    @property
    def object_id(self) -> str:
        return self.kwargs["id"]

    def stored_row(self, object_id: str) -> ResourceModel | None:
        """The object's row (alive or tombstone), or None."""
        parents = self.parents()
        if parents.missing or not self.model.valid_id(object_id):
            return None
        rows = self.base_queryset().filter(object_id=object_id)
        if self.request.method in WRITE_METHODS:
            rows = rows.select_for_update()
        row = rows.first()
        if row is not None:
            self.attach_parents(row)
        return row

    def live_object(self) -> ResourceModel | None:
        self.parents()  # may load the row too
        if not hasattr(self, "_row"):
            self._row = self.stored_row(self.object_id)
        return self._row if self._row is not None and not self._row.deleted else None

    def require_existing_or_readable_list(self, permission: str) -> ResourceModel | None:
        """Authorize an action on an object that may not exist: absent → 404 for list readers."""
        obj = self.live_object()
        if obj is not None:
            self.require(permission, obj)
        else:
            self.require("read")
        self.check_parent()
        if not self.model.valid_id(self.object_id):
            raise errors.invalid_id()
        return obj

    def not_found(self) -> errors.KintoError:
        return errors.object_not_found(self.object_id, self.resource_name)


class RetrieveMixin(ObjectMixin):
    """`GET`/`HEAD` of one object."""

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        obj = self.require_existing_or_readable_list("read")
        params = querystring_params(self.request._request.META.get("QUERY_STRING", ""))
        fields = next(([f for f in v.split(",") if f] for k, v in params if k == "_fields"), None)
        self.read_preconditions()
        if obj is None:
            raise self.not_found()
        self.check_object_preconditions(obj, is_read=True)
        # `_fields` narrows `data` only; `permissions` is unaffected (spec/03).
        data = project_fields(obj.public_data(), fields) if fields else None
        response = self.object_response(obj, data=data)
        for name, value in self.cache_headers().items():
            response[name] = value
        return expose(response, *OBJECT_EXPOSED)

    def retrieve_head(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """`HEAD`: the `GET` response's headers, `Content-Length` included, without a body."""
        response = self.retrieve(request, *args, **kwargs)
        response["Content-Length"] = str(len(response.content))
        response.content = b""
        return response
