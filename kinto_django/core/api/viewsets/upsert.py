"""Writing whole objects: `POST` on a list (with or without an id) and `PUT` on an object."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.request import Request

from kinto_django import errors
from kinto_django.core import actions
from kinto_django.core.api.viewsets.resource import write_action
from kinto_django.core.api.viewsets.retrieve import ObjectMixin


class UpsertMixin(ObjectMixin):
    """`POST` on a list (create) and `PUT` on an object (create or replace)."""

    @write_action
    def create(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.check_parent_before_authorization()
        body = self.read_envelope()
        given = body.get("data")
        data = given or {}
        posted_id = data.get("id")
        if posted_id is not None and not self.model.valid_id(posted_id):
            raise errors.invalid_id()
        existing = self.stored_row(posted_id) if posted_id is not None else None
        if existing is not None and not existing.deleted:
            self.require("read", existing)
            self.read_preconditions()
            self.check_object_preconditions(existing, is_read=False)
            return self.object_response(existing, status=200)
        self.require("create")
        self.check_parent()
        acls = self.check_permissions_body(body.get("permissions"))
        self.read_preconditions()
        self.check_object_preconditions(None, is_read=False)
        clean, forced = self.split_data(data)
        object_id = posted_id or self.model.generate_id()
        obj = actions.create_object(
            self.context(),
            self.model,
            self.parents().parent,
            object_id,
            clean if given is not None else None,
            acls,
            tombstone=existing,
            forced_timestamp=forced,
            list_endpoint=True,
        )
        return self.object_response(obj, status=201)

    @write_action
    def update(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.check_parent_before_authorization()
        obj = self.live_object()
        wants_creation = self.request._request.META.get("HTTP_IF_NONE_MATCH", "").strip() == "*"
        if obj is not None and not wants_creation:
            self.require("write", obj)
        else:
            self.require("create")
        self.check_parent()
        if not self.model.valid_id(self.object_id):
            raise errors.invalid_id()
        self.read_preconditions()
        body = self.read_envelope()
        data = body.get("data")
        if data is not None and "id" in data and data["id"] != self.object_id:
            raise errors.invalid("body", "id", "Object id does not match existing object")
        acls = self.check_permissions_body(body.get("permissions"))
        self.check_object_preconditions(obj, is_read=False)
        clean, forced = self.split_data(data or {})
        ctx = self.context()
        if obj is None:
            created = actions.create_object(
                ctx,
                self.model,
                self.parents().parent,
                self.object_id,
                clean if data is not None else None,
                acls,
                tombstone=self._row,
                forced_timestamp=forced,
            )
            return self.object_response(created, status=201)
        replace = self.model.acl_names if "permissions" in body else ()
        _, updated = actions.update_object(
            ctx, obj, clean if data is not None else None, acls, replace, forced_timestamp=forced
        )
        return self.object_response(updated)
