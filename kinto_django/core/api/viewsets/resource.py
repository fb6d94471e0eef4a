"""What every resource endpoint knows: its model, its parents and the caller, and the
transaction a write runs in."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from django.db import transaction
from django.http import HttpResponse
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core import actions, chain, timestamps
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.api.responses import timestamp_headers
from kinto_django.core.chain import Parents, load_parents
from kinto_django.core.context import ActionContext, BatchState, request_state
from kinto_django.core.models import ResourceModel
from kinto_django.permissions.authorization import Access

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def write_action(handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A write runs in one transaction from its first read to the write, with its list locked
    first, so that preconditions and merges are judged on rows locked until commit. In a
    batch, the sub-request's savepoint already bounds it. A refusal raised inside rolls it
    back."""

    @functools.wraps(handler)
    def run(self: ResourceMixin, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        with transaction.atomic(savepoint=not request_state(request).in_batch):
            self.lock_scope()
            return handler(self, request, *args, **kwargs)

    return run


class NotModified(Exception):
    """A read whose `If-None-Match` matches: 304 with the current timestamp (spec/02)."""

    def __init__(self, timestamp: int) -> None:
        self.timestamp = timestamp


class ResourceMixin(ProtocolView, GenericAPIView):
    """What every resource endpoint knows: its model, its parents and the caller."""

    model: ClassVar[type[ResourceModel]]
    # Set by `ViewSetMixin.as_view` from the route: method → action.
    action_map: dict[str, str]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        with timestamps.flush_barrier():
            return super().dispatch(request, *args, **kwargs)

    @property
    def allowed_methods(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(method.upper() for method in self.action_map)

    def method_enabled(self, method: str) -> bool:
        # Each method has its own switch, HEAD included (as the reference).
        endpoint = "object" if self.detail else "plural"
        name = f"{endpoint}_{self.model.resource_name}_{method.lower()}_enabled"
        return kinto_settings.get(name, True)

    @property
    def resource_name(self) -> str:
        return self.model.resource_name

    def parents(self) -> Parents:
        if not hasattr(self, "_parents"):
            target_id = self.row_to_preload()
            batch = self.batch()
            key = (chain.parent_models(self.model), tuple(sorted(self.kwargs.items())))
            if target_id is None and batch is not None and key in batch.parents:
                self._parents = batch.parents[key]
                return self._parents
            self._parents, row = load_parents(self.model, self.kwargs, target_id)
            if target_id is not None:
                self._row = row
            elif batch is not None:
                batch.parents[key] = self._parents
        return self._parents

    def batch(self) -> BatchState | None:
        """What this request shares with the other sub-requests of its batch, if any."""
        state = request_state(self.request)
        return state.batch if state.in_batch else None

    def row_to_preload(self) -> str | None:
        """Reads of one object fetch it with its parents (writes lock it separately)."""
        if not self.detail or self.request.method in WRITE_METHODS:
            return None
        object_id = self.kwargs.get("id")
        return object_id if self.model.valid_id(object_id) else None

    def context(self) -> ActionContext:
        return ActionContext(self.identity, request_state(self.request).events)

    def access(self, permission: str, obj: ResourceModel | None = None) -> Access:
        """What `permission` on the addressed object asks of the permission classes (`obj`,
        when given, has its ACLs read by the same check: its response shows them)."""
        objects = self.parents().objects(obj, self.resource_name)
        return Access(self.resource_name, permission, objects, obj)

    def allowed(self, permission: str, obj: ResourceModel | None = None) -> bool:
        access = self.access(permission, obj)
        return all(
            permission_class.has_object_permission(self.request, self, access)
            for permission_class in self.get_permissions()
        )

    def require(self, permission: str, obj: ResourceModel | None = None) -> None:
        """Deny (401/403) unless the caller holds `permission` (DRF's object permissions)."""
        self.check_object_permissions(self.request, self.access(permission, obj))

    def parent_missing(self) -> errors.KintoError:
        object_id, resource_name = self.parents().missing
        return errors.parent_not_found(object_id, resource_name)

    def check_parent_before_authorization(self) -> None:
        """Writes of types that say so look their parent up first, and writes under a parent
        whose id is invalid (it cannot exist) are refused first too: even anonymous callers
        get 404."""
        parents = self.parents()
        if parents.missing and (self.model.parent_before_authorization or parents.invalid):
            raise self.parent_missing()

    def check_parent(self) -> None:
        if self.parents().missing:
            raise self.parent_missing()

    def base_queryset(self):
        return self.model.objects.in_parent(self.parents().parent)

    def list_timestamp(self) -> int:
        parent = self.parents().parent
        return timestamps.list_timestamp(
            self.resource_name, parent.pk if parent is not None else 0
        )

    def lock_scope(self) -> None:
        """Lock the list this write goes to before reading it (see `timestamps.lock_scope`);
        once per batch, which holds its locks until it commits."""
        timestamps.enter_write()
        parents = self.parents()
        if parents.missing is None:
            batch = self.batch()
            for scope in timestamps.write_scopes(self.resource_name, parents.parent):
                if batch is None or scope not in batch.locked_scopes:
                    timestamps.lock_scope(*scope, create=scope[0] != self.resource_name)
                if batch is not None:
                    batch.locked_scopes.add(scope)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        if isinstance(exc, NotModified):
            return HttpResponse(status=304, headers=timestamp_headers(exc.timestamp))
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """A success sends the request's events once its transaction commits (a batch sends
        its own), and tells a batch whether the parents it looked up are still valid."""
        if response.status_code < 400:
            state = request_state(request)
            if not state.in_batch:
                state.events.send_on_commit()
            state.parents_unchanged = request.method not in WRITE_METHODS or not (
                actions.children_of(self.model)
            )
        return super().finalize_response(request, response, *args, **kwargs)

    def attach_parents(self, obj: ResourceModel) -> None:
        parent = self.parents().parent
        if parent is not None and self.model.parent_field:
            setattr(obj, self.model.parent_field, parent)
