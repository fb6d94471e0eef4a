"""`DELETE` of one object: it becomes a tombstone."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from kinto_django import errors
from kinto_django.core import actions
from kinto_django.core.api.responses import (
    json_response,
    timestamp_headers,
)
from kinto_django.core.api.viewsets.resource import write_action
from kinto_django.core.api.viewsets.retrieve import ObjectMixin
from kinto_django.core.query.params import querystring_params


class DestroyMixin(ObjectMixin):
    """`DELETE` of one object."""

    @write_action
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.check_parent_before_authorization()
        obj = self.require_existing_or_readable_list("write")
        self.read_preconditions()
        params = querystring_params(self.request._request.META.get("QUERY_STRING", ""))
        forced = None
        for key, value in params:
            if key == "last_modified":
                forced = forced_tombstone_timestamp(value)
        if obj is None:
            raise self.not_found()
        self.check_object_preconditions(obj, is_read=False)
        tombstone = actions.delete_object(self.context(), obj, forced_timestamp=forced)
        return json_response(
            {"data": tombstone.public_data()}, 200, timestamp_headers(tombstone.last_modified)
        )


def forced_tombstone_timestamp(raw: str) -> int | None:
    """`DELETE …?last_modified=N`: an integer (quotes allowed) at most 2^53−1; values in the
    past are simply not honoured (spec/02), anything else is a 400."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not re.fullmatch(r"-?[0-9]{1,20}", text) or int(text) > actions.SAFE_TIMESTAMP_MAX:
        raise errors.invalid("querystring", "last_modified", "Invalid value for last_modified")
    value = int(text)
    return value if value >= 0 else None
