"""`POST`/`DELETE …/records/{id}/attachment` (spec/07).

An upload is authorized before its body is read (a stranger cannot make the server store
anything), received into a temporary file outside any transaction, checked, put into the
storage, and only then is the record written, in a transaction of its own as every write:
a failed write deletes the file it had just stored, and the file it replaces is deleted once
the write has committed.
"""

from __future__ import annotations

import mimetypes
from typing import Any, ClassVar

from django.db import transaction
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.viewsets import ViewSetMixin

from kinto_django import errors, jsonutil
from kinto_django.attachments import storage, uploads
from kinto_django.attachments.conf import (
    attachment_settings,
    mimetype_overrides,
    resolve_extensions,
)
from kinto_django.attachments.lifecycle import attaching, release
from kinto_django.attachments.models import StoredFile
from kinto_django.conf import kinto_settings
from kinto_django.core import actions
from kinto_django.core.api import bridge
from kinto_django.core.api.locations import application_url
from kinto_django.core.api.responses import json_response, timestamp_headers
from kinto_django.core.api.viewsets.envelope import NOT_A_MAPPING
from kinto_django.core.api.viewsets.resource import write_action
from kinto_django.core.api.viewsets.retrieve import ObjectMixin
from kinto_django.core.context import request_state
from kinto_django.records.models import Record

MAX_FILENAME_LENGTH = 255


class AttachmentViewSet(ViewSetMixin, ObjectMixin):
    """The attachment of one record: `upload` (POST) and `remove` (DELETE)."""

    model = Record
    detail = True
    # The multipart body is checked by `uploads.receive` (400, as the reference), not 415.
    body_types: ClassVar[dict[str, tuple[str, ...]]] = {}

    def method_enabled(self, method: str) -> bool:
        return True

    @staticmethod
    def openapi_operations() -> dict[str, dict[str, Any]]:
        from kinto_django.attachments.openapi import operations

        return operations()

    @property
    def bucket_id(self) -> str:
        return self.kwargs["bucket_id"]

    @property
    def collection_id(self) -> str:
        return self.kwargs["collection_id"]

    def setting(self, name: str) -> Any:
        return attachment_settings.for_resource(name, self.bucket_id, self.collection_id)

    def authorize(self) -> Record | None:
        """`write` on the record if it exists, else `record:create` on the collection."""
        self.check_parent_before_authorization()
        obj = self.live_object()
        if obj is not None:
            self.require("write", obj)
        else:
            self.require("create")
        self.check_parent()
        if not self.model.valid_id(self.object_id):
            raise errors.invalid_id()
        return obj

    def forget_reads(self) -> None:
        """The next phase reads the parents and the record again, locked."""
        for name in ("_parents", "_row"):
            self.__dict__.pop(name, None)

    # --- POST -------------------------------------------------------------------------------

    def upload(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        if request_state(request).in_batch:
            raise errors.invalid(
                "body", None, "Attachments cannot be uploaded in a batch request."
            )
        with transaction.atomic():
            self.authorize()
        if request._request.META.get(bridge.AUTHORIZE_ONLY):
            # The ASGI bridge asks whether to read the body at all: yes.
            return HttpResponse(status=bridge.CONTINUE)
        self.forget_reads()
        max_size = self.setting("max_size_bytes") or None
        upload = uploads.receive(request._request, max_size, kinto_settings.max_request_body_bytes)
        try:
            data, acls = self.check_form(upload, max_size)
            name = storage.stored_name(
                upload.filename or "", self.bucket_id, self.collection_id, self.object_id
            )
            stored = storage.store(upload.path, name)
        finally:
            upload.discard()
        try:
            return self.attach(request, upload=upload, name=stored, data=data, acls=acls)
        except BaseException:
            storage.delete_files([stored])
            raise

    def check_form(
        self, upload: uploads.Upload, max_size: int | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The form's rules, in the reference's order: the file part, its name, extension
        and size, then the `data` and `permissions` JSON."""
        if not upload.has_file_part:
            raise uploads.posted_data_error("Attachment missing.")
        filename = upload.filename or ""
        if not filename.strip():
            raise errors.invalid("body", None, "Filename is required.")
        if len(filename) > MAX_FILENAME_LENGTH:
            raise errors.invalid(
                "body", None, f"Filename is longer than {MAX_FILENAME_LENGTH} characters."
            )
        if jsonutil.has_unstorable(filename) or any(ord(c) < 32 for c in filename):
            raise errors.invalid("body", None, "Filename has invalid characters.")
        allowed = resolve_extensions(self.setting("extensions"))
        if allowed is not None and storage.extension_of(filename) not in allowed:
            raise errors.invalid("body", None, "File extension is not allowed.")
        if max_size and upload.size > max_size:
            raise errors.invalid(
                "body",
                None,
                f"File size ({upload.size} bytes) exceeds the limit ({max_size} bytes).",
            )
        data = self.json_field(upload, "data")
        if data is not None and not isinstance(data, dict):
            raise errors.invalid("body", "data", f'"{data}" {NOT_A_MAPPING}')
        acls = self.json_field(upload, "permissions")
        acls = self.check_permissions_body(acls)
        data = data or {}
        if "id" in data and data["id"] != self.object_id:
            raise errors.invalid("body", "id", "Object id does not match existing object")
        return data, acls

    @staticmethod
    def json_field(upload: uploads.Upload, name: str) -> Any:
        text = upload.fields.get(name)
        if text is None:
            return None
        try:
            value = jsonutil.loads(text)
        except ValueError as error:
            raise uploads.posted_data_error(f"body: {name} is not valid JSON ({error})") from None
        problem = jsonutil.check_structure(value, kinto_settings.max_json_depth)
        if problem:
            raise errors.invalid("body", name, problem)
        return value

    def metadata(self, upload: uploads.Upload, name: str) -> dict[str, Any]:
        filename = upload.filename or ""
        extension = storage.extension_of(filename)
        mimetype = mimetype_overrides().get(extension) or upload.content_type
        if not mimetype or mimetype == "application/octet-stream":
            mimetype = mimetypes.guess_type(f"x.{extension}")[0] or mimetype
        return {
            "filename": filename,
            "location": storage.location(self.request._request, name),
            "hash": upload.sha256,
            "mimetype": mimetype or "application/octet-stream",
            "size": upload.size,
        }

    @write_action
    def attach(
        self,
        request: Request,
        *,
        upload: uploads.Upload,
        name: str,
        data: dict[str, Any],
        acls: dict[str, Any],
    ) -> HttpResponse:
        """Write the record with its new attachment (created like a PUT, updated like a
        PATCH), authorized and checked again on the locked rows."""
        obj = self.authorize()
        self.read_preconditions()
        self.check_object_preconditions(obj, is_read=False)
        attachment = self.metadata(upload, name)
        clean = {k: v for k, v in data.items() if k not in ("id", "last_modified")}
        record = self.write_record(obj, {**clean, "attachment": attachment}, acls)
        status = 201 if obj is None else 200
        previous = StoredFile.objects.filter(record_id=record.pk)
        release(previous)
        StoredFile.objects.create(
            name=name, record=record, uri=record.uri, size=upload.size, sha256=upload.sha256
        )
        headers = {
            **timestamp_headers(record.last_modified),
            "Location": application_url(request._request, record.uri),
        }
        return json_response(attachment, status, headers)

    def write_record(self, obj: Record | None, data: dict[str, Any], acls: dict[str, Any]):
        """Create the record with `data`, or merge `data` into the existing one (ACLs given
        as not None replace the record's)."""
        ctx = self.context()
        with attaching():
            if obj is None:
                return actions.create_object(
                    ctx, Record, self.parents().parent, self.object_id, data, acls or None,
                    tombstone=self._row,
                )  # fmt: skip
            current = {k: v for k, v in obj.data.items() if k not in ("id", "last_modified")}
            replace = [acl for acl, principals in acls.items() if principals is not None]
            _, record = actions.update_object(ctx, obj, {**current, **data}, acls or None, replace)
            return record

    # --- DELETE -----------------------------------------------------------------------------

    @write_action
    def remove(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """Remove the record's file and set `attachment` to null (204). A missing record is
        created with `attachment: null`, as the reference does."""
        obj = self.authorize()
        self.read_preconditions()
        self.check_object_preconditions(obj, is_read=False)
        record = self.write_record(obj, {"attachment": None}, {})
        release(StoredFile.objects.filter(record_id=record.pk))
        response = HttpResponse(status=204)
        del response["Content-Type"]  # no body, no type (as the reference)
        return response
