"""The envelope of spec/01: request bodies `{"data", "permissions"}` checked, and object
responses with their `ETag`/`Last-Modified`."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse

from kinto_django import errors
from kinto_django.core import actions
from kinto_django.core.api.responses import (
    json_response,
    timestamp_headers,
)
from kinto_django.core.api.viewsets.resource import ResourceMixin
from kinto_django.core.models import ResourceModel
from kinto_django.core.validation import check_principal
from kinto_django.permissions import service as permissions

NOT_A_MAPPING = "is not a mapping type: Does not implement dict-like functionality."


class EnvelopeMixin(ResourceMixin):
    """Request bodies `{"data": {...}, "permissions": {...}}` checked as spec/01 says, and the
    same envelope in object responses, with `ETag`/`Last-Modified`."""

    def read_envelope(self, allow_list: bool = False) -> Any:
        body = self.body()
        if body is None:
            return {}
        if isinstance(body, list) and not allow_list:
            raise errors.invalid("body", "", f'"{body}" {NOT_A_MAPPING}')
        if isinstance(body, dict):
            unknown = {k: v for k, v in body.items() if k not in ("data", "permissions")}
            if unknown:
                raise errors.invalid("body", "", f'Unrecognized keys in mapping: "{unknown}"')
            problems = [
                {"location": "body", "name": key, "description": f'"{body[key]}" {NOT_A_MAPPING}'}
                for key in ("data", "permissions")
                if key in body and not isinstance(body[key], dict)
            ]
            if problems:
                raise errors.invalid_many(problems)
        return body

    def check_permissions_body(
        self, acls: Any, allow_null: bool = False
    ) -> dict[str, list[str] | None]:
        """The `permissions` of a body: known ACL names, lists of principals.

        A `null` list means "not given": it is dropped, or kept as None for PATCH, where it
        has a meaning (merge-patch removes that ACL).
        """
        if acls is None:
            return {}
        if not isinstance(acls, dict):
            raise errors.invalid("body", "permissions", f'"{acls}" {NOT_A_MAPPING}')
        names = self.model.acl_names
        checked: dict[str, list[str] | None] = {}
        for name, principals in acls.items():
            if name not in names:
                raise errors.invalid(
                    "body", "permissions", f'"{name}" is not one of {", ".join(names)}'
                )
            if principals is None:
                if allow_null:
                    checked[name] = None
                continue
            if not isinstance(principals, list):
                raise errors.invalid(
                    "body", f"permissions.{name}", f'"{principals}" is not iterable'
                )
            for index, principal in enumerate(principals):
                check_principal(principal, f"permissions.{name}.{index}")
            checked[name] = principals
        return checked

    @staticmethod
    def split_data(data: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        """Stored data (without `id`/`last_modified`) and a forced timestamp, if any."""
        forced = data.get("last_modified")
        clean = {k: v for k, v in data.items() if k not in ("id", "last_modified")}
        if isinstance(forced, bool) or not isinstance(forced, int):
            return clean, None
        if not 0 <= forced <= actions.SAFE_TIMESTAMP_MAX:
            raise errors.invalid(
                "body",
                "data.last_modified",
                f"last_modified must be between 0 and {actions.SAFE_TIMESTAMP_MAX}",
            )
        return clean, forced

    def object_response(
        self,
        obj: ResourceModel,
        status: int = 200,
        data: dict[str, Any] | None = None,
        acls: dict[str, list[str]] | None = None,
    ) -> HttpResponse:
        if acls is None:
            acls = obj.known_acls
        if acls is None:
            acls = permissions.object_permissions(obj)
        visible = acls if self.shows_permissions(acls, status) else {}
        body = {"data": obj.public_data() if data is None else data, "permissions": visible}
        return json_response(body, status, timestamp_headers(obj.last_modified))

    def shows_permissions(self, acls: dict[str, list[str]], status: int) -> bool:
        """Whether the caller sees the object's ACLs (spec/04: listed in its own `write`)."""
        return permissions.may_see_permissions(self.identity, acls)
