"""What every resource endpoint knows: its model, its parents and the caller, and the
transaction a write runs in."""

from __future__ import annotations

from typing import ClassVar

from django.http import HttpResponse

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core import actions, chain, timestamps
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.chain import Parents, load_parents
from kinto_django.core.context import ActionContext, BatchState
from kinto_django.core.events import EventCollector
from kinto_django.core.models import ResourceModel
from kinto_django.permissions import service as permissions

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ResourceMixin(ProtocolView):
    """What every resource endpoint knows: its model, its parents and the caller."""

    model: ClassVar[type[ResourceModel]]
    endpoint: ClassVar[str] = "object"  # or "plural"; set by core.urls

    @property
    def allowed_methods(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.endpoint == "plural":
            return ("HEAD", "GET", "POST", "DELETE")
        return ("GET", "HEAD", "PUT", "PATCH", "DELETE")

    def method_enabled(self, method: str) -> bool:
        # Each method has its own switch, HEAD included (as the reference).
        name = f"{self.endpoint}_{self.model.resource_name}_{method.lower()}_enabled"
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
        return getattr(self.request._request, "kinto_batch", None)

    def row_to_preload(self) -> str | None:
        """Reads of one object fetch it with its parents (writes lock it separately)."""
        if self.endpoint != "object" or self.request.method in WRITE_METHODS:
            return None
        object_id = self.kwargs.get("id")
        return object_id if self.model.valid_id(object_id) else None

    def context(self) -> ActionContext:
        request = self.request._request
        collector = getattr(request, "kinto_events", None)
        if collector is None:
            collector = request.kinto_events = EventCollector()
        return ActionContext(self.identity, collector)

    def allowed(self, permission: str, obj: ResourceModel | None = None) -> bool:
        objects = self.parents().objects(obj, self.resource_name)
        if obj is None or obj.known_acls is not None:
            return permissions.has_permission(
                self.identity, self.resource_name, permission, objects
            )
        # The object's ACLs come with the check: its response needs them anyway.
        granted, acls = permissions.permission_and_acls(
            self.identity, self.resource_name, permission, objects
        )
        obj.known_acls = acls
        return granted

    def require(self, permission: str, obj: ResourceModel | None = None) -> None:
        if not self.allowed(permission, obj):
            raise self.deny()

    def parent_missing(self) -> errors.KintoError:
        object_id, resource_name = self.parents().missing
        return errors.parent_not_found(object_id, resource_name)

    def check_parent_before_authorization(self) -> None:
        """Types that say so look their parent up first: even anonymous callers get 404."""
        if self.model.parent_before_authorization and self.parents().missing:
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

    def finish(self, response: HttpResponse) -> HttpResponse:
        """Send the request's events once its transaction commits; in a batch, tell it
        whether the parents it looked up are still valid for the next sub-requests."""
        request = self.request._request
        collector = getattr(request, "kinto_events", None)
        if collector is not None and not getattr(request, "kinto_in_batch", False):
            collector.send_on_commit()
        request.kinto_parents_unchanged = self.request.method not in WRITE_METHODS or not (
            actions.children_of(self.model)
        )
        return response

    def attach_parents(self, obj: ResourceModel) -> None:
        parent = self.parents().parent
        if parent is not None and self.model.parent_field:
            setattr(obj, self.model.parent_field, parent)
