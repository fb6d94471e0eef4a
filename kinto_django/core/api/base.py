"""The base view of every API endpoint: DRF's `APIView` with the protocol's policy at its seams.

Authentication classes are the configured policies, the permission class the ACLs, the parsers
bounded JSON, the negotiation JSON only; every class is named here, so that a host site's
`REST_FRAMEWORK` defaults (its authentication, permissions, renderers, pagination, throttles)
never change the API's behaviour. The order of checks is spec/01's: method (405), then
`Accept` (406) and `Content-Type` (415), then the caller, then the view's own checks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.views import APIView

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core.api.parsers import (
    JSON_PATCH_TYPE,
    JSON_TYPE,
    MERGE_PATCH_TYPE,
    JSONParser,
    JSONPatchParser,
    MergePatchParser,
    ProtocolNegotiation,
    media_type,
)
from kinto_django.core.api.renderers import JSONRenderer
from kinto_django.core.api.responses import (
    ALWAYS_EXPOSED,
    LIST_EXPOSED,
    OBJECT_EXPOSED,
    TOTALS_EXPOSED,
)
from kinto_django.core.context import request_state
from kinto_django.permissions.authentication import policy_authenticators
from kinto_django.permissions.authorization import ACLPermission
from kinto_django.permissions.identity import ANONYMOUS, Identity
from kinto_django.permissions.service import principals_for

READ_METHODS = ("GET", "HEAD", "OPTIONS")


class ProtocolView(APIView):
    """Base of every API view: the caller computed once (`identity`), errors rendered by
    `kinto_django.errors`."""

    authentication_classes: ClassVar[list] = []  # the `auth_policies` setting decides
    permission_classes: ClassVar[list] = [ACLPermission]
    parser_classes: ClassVar[list] = [JSONParser, MergePatchParser, JSONPatchParser]
    renderer_classes: ClassVar[list] = [JSONRenderer]
    content_negotiation_class = ProtocolNegotiation
    throttle_classes: ClassVar[list] = []
    versioning_class = None
    metadata_class = None

    # Methods a route answers; `readonly` keeps only the safe ones.
    allowed_methods: ClassVar[tuple[str, ...]] = ("GET", "HEAD")
    # False for lists, True for objects (decides the CORS exposed headers); None otherwise.
    detail: bool | None = None
    # Resource endpoints refuse an `Accept` without JSON (406); utility endpoints don't care.
    negotiate_accept: ClassVar[bool] = True
    # Content types accepted per method for request bodies.
    body_types: ClassVar[dict[str, tuple[str, ...]]] = {
        "POST": (JSON_TYPE,),
        "PUT": (JSON_TYPE,),
        "PATCH": (JSON_TYPE, MERGE_PATCH_TYPE, JSON_PATCH_TYPE),
    }

    identity: Identity = ANONYMOUS

    def methods(self) -> list[str]:
        methods = [m for m in self.allowed_methods if self.method_enabled(m)]
        if kinto_settings.readonly:
            methods = [m for m in methods if m in READ_METHODS]
        return methods

    def method_enabled(self, method: str) -> bool:
        return True

    def allow_header(self) -> list[str]:
        return [*self.methods(), "OPTIONS"]

    # --- DRF's seams ------------------------------------------------------------------------

    def get_authenticators(self) -> list[BaseAuthentication]:
        return policy_authenticators()

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Released once the response is built (`middleware.release_request`).
        request_state(request).views.append(self)
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method not in self.methods():
            raise errors.method_not_allowed(self.allow_header())
        super().initial(request, *args, **kwargs)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        negotiated = super().perform_content_negotiation(request, force)
        types = self.body_types.get(request.method)
        content_type = request.META.get("CONTENT_TYPE", "")
        if not force and types and content_type and media_type(content_type) not in types:
            description = f"Content-Type header should be one of {list(types)}"
            raise errors.invalid("header", "Content-Type", description, status=415)
        return negotiated

    def perform_authentication(self, request: Request) -> None:
        self.identity = principals_for(request, request_state(request).identities)

    def permission_denied(self, request: Request, message: Any = None, code: Any = None) -> None:
        raise self.deny()

    def get_exception_handler(self):
        return errors.exception_handler

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> None:
        raise errors.method_not_allowed(self.allow_header())

    @property
    def default_response_headers(self) -> dict[str, str]:
        # DRF would add `Allow` and `Vary` to every response; the protocol sends `Allow` on 405.
        return {}

    # --- protocol helpers -------------------------------------------------------------------

    def body(self) -> Any:
        """The parsed JSON body, None when the request has none."""
        if self.request.stream is None:
            return None
        return self.request.data

    def exposed_headers(self, method: str) -> tuple[str, ...]:
        """Headers listed in `Access-Control-Expose-Headers` for this endpoint and method,
        on successes and errors alike (spec/00, CORS)."""
        if self.detail is False:
            if method == "GET":
                return (*ALWAYS_EXPOSED, *LIST_EXPOSED)
            if method == "HEAD":
                return (*ALWAYS_EXPOSED, *LIST_EXPOSED, *TOTALS_EXPOSED)
        elif self.detail is True and method in ("GET", "HEAD"):
            return (*ALWAYS_EXPOSED, *OBJECT_EXPOSED)
        return ALWAYS_EXPOSED

    def deny(self) -> errors.KintoError:
        """401 for anonymous callers (so that clients ask for credentials), 403 otherwise."""
        return errors.forbidden() if self.identity.authenticated else errors.unauthorized()
