"""`PATCH`: a shallow merge by default, JSON Merge Patch (RFC 7396) or JSON Patch (RFC 6902)
on the object and its permissions, with `Response-Behavior` (spec/01, spec/04)."""

from __future__ import annotations

from typing import Any

import jsonpatch
from django.http import HttpResponse
from rest_framework.request import Request

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import actions
from kinto_django.core.api.parsers import (
    JSON_PATCH_TYPE,
    MERGE_PATCH_TYPE,
    media_type,
)
from kinto_django.core.api.responses import (
    json_response,
    timestamp_headers,
)
from kinto_django.core.api.viewsets.envelope import NOT_A_MAPPING
from kinto_django.core.api.viewsets.resource import write_action
from kinto_django.core.api.viewsets.retrieve import ObjectMixin
from kinto_django.core.models import ResourceModel
from kinto_django.permissions import service as permissions

MISSING = object()


class PatchMixin(ObjectMixin):
    """`PATCH` of one object."""

    @write_action
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.check_parent_before_authorization()
        obj = self.require_existing_or_readable_list("write")
        self.read_preconditions()
        behavior = self.response_behavior()
        content_type = media_type(self.request._request.META.get("CONTENT_TYPE", ""))
        if content_type == JSON_PATCH_TYPE:
            operations = self.body()
            check_json_patch(operations)
            if obj is None:
                raise self.not_found()
            self.check_object_preconditions(obj, is_read=False)
            new_data, acls, replace = self.apply_json_patch(obj, operations)
            # What the client asked the data to become, for `Response-Behavior`.
            changes: dict[str, Any] = new_data
        else:
            body = self.read_envelope()
            if "data" not in body and "permissions" not in body:
                raise errors.invalid("body", "data", "Provide at least one of data or permissions")
            merge = content_type == MERGE_PATCH_TYPE
            acls = self.check_permissions_body(body.get("permissions"), allow_null=True)
            if obj is None:
                raise self.not_found()
            self.check_object_preconditions(obj, is_read=False)
            patch = body.get("data")
            if patch is None:
                new_data, changes = obj.public_data(), {}
            elif merge:
                new_data = merge_patch(obj.public_data(), patch)
                changes = {k: new_data[k] for k in patch if k in new_data}
            else:
                new_data, changes = {**obj.public_data(), **patch}, patch
            if merge:
                replace = list(acls)
                acls = {name: principals or [] for name, principals in acls.items()}
            else:
                replace = [name for name, principals in acls.items() if principals is not None]
        if new_data.get("id", obj.object_id) != obj.object_id:
            raise errors.invalid("body", "id", "Object id does not match existing object")
        clean, forced = self.split_data(new_data)
        old_data = obj.public_data()
        _, updated = actions.update_object(
            self.context(), obj, clean, acls, replace, forced_timestamp=forced
        )
        if behavior == "full":
            return self.object_response(updated)
        data = updated.public_data()
        changed = {
            k: data[k] for k in changes if k in data and old_data.get(k, MISSING) != data[k]
        }
        if behavior == "diff":
            changed = {k: v for k, v in changed.items() if changes[k] != v}
        return json_response({"data": changed}, 200, timestamp_headers(updated.last_modified))

    def response_behavior(self) -> str:
        """`Response-Behavior`: `full` (default), `light` or `diff` (spec/01)."""
        value = self.request._request.META.get("HTTP_RESPONSE_BEHAVIOR", "").strip() or "full"
        if value not in ("full", "light", "diff"):
            raise errors.invalid(
                "header", "Response-Behavior", f'"{value}" is not one of full, light, diff'
            )
        return value

    def apply_json_patch(self, obj: ResourceModel, operations: list[dict[str, Any]]):
        """RFC 6902 on `{"data": …, "permissions": {acl: {principal: principal}}}` (spec/04).

        `read` and `write` are always in the document, so that `/permissions/read/<principal>`
        works on an empty ACL; other ACL names only when not empty. Adding a principal needs
        no `value` (it is taken from the path).
        """
        acls = permissions.object_permissions(obj)
        obj.known_acls = acls  # read in the write's transaction: the action need not re-read
        document_acls = {
            name: {p: p for p in acls.get(name, [])}
            for name in self.model.acl_names
            if acls.get(name) or name in ("read", "write")
        }
        document = {"data": obj.public_data(), "permissions": document_acls}
        prepared = []
        for operation in operations:
            path = operation["path"]
            if (
                operation["op"] in ("add", "replace")
                and "value" not in operation
                and path.startswith(("/permissions/read/", "/permissions/write/"))
            ):
                operation = {**operation, "value": path.rsplit("/", 1)[1]}
            prepared.append(operation)
        try:
            # Bounded: copies could otherwise grow a small body into gigabytes.
            patched = jsonutil.apply_patch(
                document,
                prepared,
                kinto_settings.max_request_body_bytes,
                kinto_settings.max_json_depth,
            )
        except (
            jsonpatch.JsonPatchException,
            jsonpatch.JsonPointerException,
            TypeError,
            KeyError,
            ValueError,
        ) as error:
            raise errors.invalid("body", None, f"JSON Patch operation failed: {error}") from None
        if not isinstance(patched.get("data"), dict):
            raise errors.invalid("body", "data", f'"{patched.get("data")}" {NOT_A_MAPPING}')
        patched_acls = patched.get("permissions")
        if not isinstance(patched_acls, dict):
            raise errors.invalid("body", "permissions", f'"{patched_acls}" {NOT_A_MAPPING}')
        new_acls: dict[str, Any] = {}
        for name, value in patched_acls.items():
            new_acls[name] = list(value) if isinstance(value, dict) else value
        new_acls = self.check_permissions_body(new_acls)
        # An ACL taken out of the document is emptied.
        replace = [
            name
            for name in self.model.acl_names
            if sorted(new_acls.get(name) or []) != acls.get(name, [])
        ]
        return patched["data"], new_acls, replace


JSON_PATCH_OPERATIONS = ("test", "add", "remove", "replace", "move", "copy")
JSON_PATCH_KEYS = ("op", "path", "from", "value")


def check_json_patch(operations: Any) -> None:
    """The shape of an RFC 6902 body, every problem reported at once (400)."""
    if not isinstance(operations, list):
        raise errors.invalid("body", "", f'"{operations}" is not iterable')
    problems: list[dict[str, Any]] = []

    def problem(name: str, description: str) -> None:
        problems.append({"location": "body", "name": name, "description": description})

    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            problem(str(index), f'"{operation}" {NOT_A_MAPPING}')
            continue
        unknown = {k: v for k, v in operation.items() if k not in JSON_PATCH_KEYS}
        if unknown:
            problem(str(index), f'Unrecognized keys in mapping: "{unknown}"')
        for key in ("op", "path", "from"):
            value = operation.get(key)
            if value is None or value == "":
                if key != "from":
                    problem(f"{index}.{key}", "Required")
            elif not isinstance(value, str):
                problem(f"{index}.{key}", f"{value} is not a string: {{'{key}': ''}}")
            elif key == "op" and value not in JSON_PATCH_OPERATIONS:
                problem(
                    f"{index}.op", f'"{value}" is not one of {", ".join(JSON_PATCH_OPERATIONS)}'
                )
            elif key != "op" and not value.startswith("/"):
                problem(f"{index}.{key}", "String does not match expected pattern")
    if problems:
        raise errors.invalid_many(problems)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge recursively, null removes a key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
