"""ETag preconditions (spec/02): `If-Match` / `If-None-Match` with quoted timestamps or `*`,
for one object or a whole list; 304 Not Modified and 412 Precondition Failed."""

from __future__ import annotations

from django.http import HttpRequest

from kinto_django import errors
from kinto_django.core.api.responses import (
    timestamp_headers,
)
from kinto_django.core.api.viewsets.resource import NotModified, ResourceMixin
from kinto_django.core.models import ResourceModel


def parse_precondition(request: HttpRequest, header: str) -> int | str | None:
    """`If-Match`/`If-None-Match`: a quoted integer, `*`, or absent; anything else is a 400."""
    raw = request.META.get("HTTP_" + header.upper().replace("-", "_"))
    if raw is None:
        return None
    value = raw.strip()
    if value == "*":
        return "*"
    if (
        len(value) >= 3
        and value[0] == value[-1] == '"'
        and value[1:-1].isdigit()
        and len(value) < 25
    ):
        return int(value[1:-1])
    raise errors.invalid("header", header, "The value should be integer between double quotes.")


class PreconditionsMixin(ResourceMixin):
    """ETag preconditions (spec/02): `If-Match` / `If-None-Match` with quoted timestamps or `*`."""

    def read_preconditions(self) -> tuple[int | str | None, int | str | None]:
        return parse_precondition(self.request._request, "If-Match"), parse_precondition(
            self.request._request, "If-None-Match"
        )

    def check_object_preconditions(self, obj: ResourceModel | None, is_read: bool) -> None:
        """The If-Match / If-None-Match matrix of spec/02 for one object (None = absent)."""
        if_match, if_none_match = self.read_preconditions()
        current = obj.last_modified if obj is not None else None
        if is_read and isinstance(if_none_match, int) and current == if_none_match:
            raise NotModified(current)
        if if_none_match == "*" and obj is not None:
            raise self.precondition_failed(obj)
        if if_match is not None:
            if obj is None:
                raise self.list_precondition_failed(self.list_timestamp())
            if if_match != "*" and if_match != current:
                raise self.precondition_failed(obj)

    def check_list_preconditions(self, list_timestamp: int, is_read: bool) -> None:
        if_match, if_none_match = self.read_preconditions()
        if is_read and isinstance(if_none_match, int) and if_none_match == list_timestamp:
            raise NotModified(list_timestamp)
        if if_none_match == "*":
            raise self.list_precondition_failed(list_timestamp)
        if isinstance(if_match, int) and if_match != list_timestamp:
            raise self.list_precondition_failed(list_timestamp)

    def precondition_failed(self, obj: ResourceModel) -> errors.KintoError:
        """412 with `details.existing`, and the object's `ETag`/`Last-Modified`, only for
        callers who may read the object (spec/02): a stranger learns nothing of it."""
        readable = self.allowed("read", obj)
        error = errors.precondition_failed(obj.public_data() if readable else None)
        if readable:
            error.headers.update(timestamp_headers(obj.last_modified))
        return error

    @staticmethod
    def list_precondition_failed(list_timestamp: int) -> errors.KintoError:
        """412 on a list, or on an absent object: no details, the list's timestamp."""
        error = errors.precondition_failed()
        error.headers.update(timestamp_headers(list_timestamp))
        return error
