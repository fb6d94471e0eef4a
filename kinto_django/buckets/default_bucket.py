"""The personal bucket `default` (spec/07): `/buckets/default…` stands for the caller's own
bucket, created with the addressed collection on first use.

The alias view authenticates the caller, creates what is missing through `kinto_django.core.actions`
(bypassing create permissions, granting the caller `write`, with the usual `create` events),
then runs the same request with `default` replaced by the real id: responses, `Next-Page`
and events carry the real id, and every rule of the real resource applies.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from typing import Any

from django.core.handlers.wsgi import WSGIRequest
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, resolve
from django.views import View

from kinto_django import errors, jsonutil
from kinto_django.buckets.models import Bucket, Collection
from kinto_django.conf import kinto_settings, plugin_enabled
from kinto_django.core import actions, timestamps
from kinto_django.core.api.parsers import read_body
from kinto_django.core.api.subrequests import dispatch
from kinto_django.core.context import ActionContext, request_state
from kinto_django.core.models import ResourceModel
from kinto_django.permissions import service as permissions
from kinto_django.permissions.service import Identity, principals_for

ALIAS = "buckets/default"
# Stands for the real id when only the shape of a path matters (CORS, exposed headers).
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
# Request attributes an inner request shares with the outer one.
SHARED_ATTRIBUTES = (
    "user",
    "session",
)


def default_bucket_enabled() -> bool:
    return plugin_enabled("default_bucket_enabled", "kinto.plugins.default_bucket")


def personal_bucket_key() -> bytes:
    """The key of personal bucket ids: `default_bucket_hmac_secret` when it is configured
    (even empty, as the reference's default: installations made with it keep their ids),
    else a key derived from the server's `userid_hmac_secret`, so that nobody can compute
    another user's personal bucket id and create it first."""
    configured = kinto_settings.raw.get("default_bucket_hmac_secret")
    if configured is not None:
        return str(configured).encode()
    secret = kinto_settings.userid_hmac_secret.encode()
    return hmac.new(secret, b"kinto personal bucket ids", hashlib.sha256).digest()


def personal_bucket_id(user_id: str) -> str:
    """UUID-formatted first 32 hex digits of HMAC-SHA256(the personal bucket key, user id)."""
    digest = hmac.new(personal_bucket_key(), user_id.encode(), hashlib.sha256).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def check_owner(identity: Identity, bucket_id: str) -> None:
    """Refuse (403) a personal bucket that the caller cannot write: one that somebody else
    created under the caller's id must never receive the caller's data."""
    bucket = Bucket.objects.alive().filter(object_id=bucket_id).first()
    if bucket is not None and not permissions.has_permission(
        identity, "bucket", "write", {"bucket": bucket}
    ):
        raise errors.forbidden()


def user_bucket(identity: Identity) -> dict[str, Any]:
    """`user.bucket` in `GET /`."""
    return {"bucket": personal_bucket_id(identity.user_id)} if identity.user_id else {}


def real_path(path: str, subpath: str, bucket_id: str) -> str:
    """`path` (which ends with `buckets/default[/subpath]`) naming the real bucket."""
    tail = ALIAS + (f"/{subpath}" if subpath else "")
    return f"{path[: len(path) - len(tail)]}buckets/{bucket_id}" + tail[len(ALIAS) :]


def collection_in(subpath: str) -> str | None:
    """The collection id a subpath goes through (`collections/<cid>[/…]`), if any."""
    parts = subpath.split("/", 2)
    if len(parts) >= 2 and parts[0] == "collections":
        return parts[1]
    return None


def replace_default_id(raw: bytes, bucket_id: str) -> bytes:
    """The body with `data.id == "default"` replaced by the real bucket id (spec/07)."""
    if b'"default"' not in raw:
        return raw
    try:
        body = jsonutil.loads(raw)
    except (ValueError, RecursionError):
        return raw  # the real view reports the error
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("id") != "default":
        return raw
    data["id"] = bucket_id
    try:
        return jsonutil.dumps(body)
    except (TypeError, ValueError):
        return raw


class DefaultBucketView(View):
    """`/buckets/default` and `/buckets/default/<subpath>`, every method (OPTIONS pre-flights
    are answered by the middleware as for the real route, see `route_target`)."""

    @classmethod
    def as_view(cls, **initkwargs: Any):
        view = super().as_view(**initkwargs)
        view.csrf_exempt = True  # the real view decides, as every API view
        return view

    @classmethod
    def route_target(cls, match: ResolverMatch) -> ResolverMatch | None:
        """The real route behind an alias match (anonymous pre-flights included)."""
        route = match.route or ""
        if ALIAS not in route:
            return None
        root = "/" + route.split(ALIAS, 1)[0]
        subpath = match.kwargs.get("subpath", "")
        path = root + ALIAS + (f"/{subpath}" if subpath else "")
        try:
            return resolve(real_path(path, subpath, PLACEHOLDER_ID))
        except Resolver404:
            return None

    @classmethod
    def aliased_path(cls, request: HttpRequest, path: str) -> str | None:
        """The real path of an alias path for the caller of `request` (None if anonymous)."""
        identity = principals_for(request, request_state(request).identities)
        if not identity.authenticated:
            return None
        subpath = resolve(path).kwargs.get("subpath", "")
        return real_path(path, subpath, personal_bucket_id(identity.user_id))

    def dispatch(self, request: HttpRequest, subpath: str = "") -> HttpResponse:
        try:
            # From the owner check on: a flush committed between that read of the bucket
            # and the real view's reads would show the bucket without its grants (403).
            with timestamps.flush_barrier():
                return self.alias(request, subpath)
        except errors.KintoError as error:
            return errors.error_response(error)

    def alias(self, request: HttpRequest, subpath: str) -> HttpResponse:
        identity = principals_for(request, request_state(request).identities)
        if not identity.authenticated:
            raise errors.unauthorized()
        if kinto_settings.readonly:
            raise errors.KintoError(
                405, errors.ERRNO.METHOD_NOT_ALLOWED, "Method not allowed on this endpoint."
            )
        bucket_id = personal_bucket_id(identity.user_id)
        collection_id = collection_in(subpath)
        if collection_id is not None and not Collection.valid_id(collection_id):
            raise errors.invalid("path", None, "Invalid collection id")
        # The request that creates an object itself is not preceded by its implicit creation.
        is_put = request.method == "PUT"
        wants_bucket = not (is_put and not subpath)
        wants_collection = collection_id is not None and not (
            is_put and subpath == f"collections/{collection_id}"
        )
        check_owner(identity, bucket_id)
        inner = self.inner_request(request, subpath, bucket_id)
        if not missing(bucket_id, collection_id, wants_bucket, wants_collection):
            return dispatch(inner)
        state = request_state(request)
        context = ActionContext(identity, state.events)
        in_batch = state.in_batch
        with transaction.atomic():
            timestamps.enter_write()
            bucket = ensure(context, Bucket, None, bucket_id)
            if wants_collection:
                ensure(context, Collection, bucket, collection_id)
            response = dispatch(inner)
            if response.status_code >= 400:
                # Like a failed batch sub-request, a failed request leaves nothing behind.
                transaction.set_rollback(True)
                if not in_batch:
                    context.events.discard()
            elif not in_batch:
                context.events.send_on_commit()  # e.g. after a 304, the view sent nothing
        return response

    @staticmethod
    def inner_request(request: HttpRequest, subpath: str, bucket_id: str) -> WSGIRequest:
        """The same request addressed to the real bucket, sharing identity and events."""
        body = replace_default_id(read_body(request), bucket_id)
        path = real_path(request.path_info, subpath, bucket_id)
        environ = {
            key: value
            for key, value in request.META.items()
            if key not in ("wsgi.input", "CONTENT_LENGTH")
        }
        environ.update(
            {
                # WSGI strings are bytes decoded as latin-1.
                "PATH_INFO": path.encode("utf-8", "surrogateescape").decode("latin-1"),
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            }
        )
        inner = WSGIRequest(environ)
        for name in SHARED_ATTRIBUTES:
            if hasattr(request, name):
                setattr(inner, name, getattr(request, name))
        inner.kinto = request_state(request).for_subrequest(body=body)
        return inner


def missing(
    bucket_id: str, collection_id: str | None, wants_bucket: bool, wants_collection: bool
) -> bool:
    """Whether an implicit creation is due (one query when everything exists)."""
    if wants_collection:
        return not Collection.objects.filter(
            bucket__object_id=bucket_id,
            bucket__deleted=False,
            object_id=collection_id,
            deleted=False,
        ).exists()
    if wants_bucket:
        return not Bucket.objects.filter(object_id=bucket_id, deleted=False).exists()
    return False


def ensure(
    context: ActionContext,
    model: type[ResourceModel],
    parent: ResourceModel | None,
    object_id: str,
) -> ResourceModel:
    """The live object, created when missing: no create permission needed, the caller gets
    `write`, and the creation is an ordinary action (timestamp, ACLs, `create` event)."""
    rows = model.objects.in_parent(parent).filter(object_id=object_id)
    # No lock when it exists (the bucket, usually): a lock on its list, held until the
    # request commits, would make concurrent requests of the same caller deadlock.
    row = rows.filter(deleted=False).first()
    if row is not None:
        return row
    # Creators queue on the list's lock, then look again (a new statement sees what the one
    # before them committed). Not on the row: a lock on a bucket would block, until the end
    # of this request, the commit of concurrent writers of collections inside it.
    timestamps.lock_write(model.resource_name, parent)
    row = rows.first()
    if row is not None and not row.deleted:
        return row
    try:
        with transaction.atomic():
            return actions.create_object(
                context,
                model,
                parent,
                object_id,
                {},
                {"write": [context.user_id]},
                tombstone=row,
            )
    except IntegrityError:
        # Created by a concurrent request since we looked (its scope had no row to lock).
        return rows.get(deleted=False)
