"""The base view of every API endpoint."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework.views import APIView

from kinto_django import errors
from kinto_django.conf import kinto_settings
from kinto_django.core.api.parsers import (
    JSON_PATCH_TYPE,
    JSON_TYPE,
    MERGE_PATCH_TYPE,
    accepts_json,
    media_type,
)
from kinto_django.core.api.renderers import JSONRenderer
from kinto_django.core.api.responses import (
    ALWAYS_EXPOSED,
    LIST_EXPOSED,
    OBJECT_EXPOSED,
    TOTALS_EXPOSED,
)
from kinto_django.permissions.service import Identity, principals_for

READ_METHODS = ("GET", "HEAD", "OPTIONS")


class ProtocolView(APIView):
    """Base of every API view: method and content negotiation checks in the protocol's order,
    errors rendered by `kinto_django.errors`, the caller's identity computed once."""

    # Independent of the host site's REST_FRAMEWORK settings.
    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = []
    renderer_classes: ClassVar[list] = [JSONRenderer]
    parser_classes: ClassVar[list] = []

    # Methods a route answers; `readonly` keeps only the safe ones.
    allowed_methods: ClassVar[tuple[str, ...]] = ("GET", "HEAD")
    # "plural" or "object" for resource endpoints (decides the CORS exposed headers).
    endpoint: ClassVar[str | None] = None
    # Resource endpoints refuse an `Accept` without JSON (406); utility endpoints don't care.
    negotiate_accept: ClassVar[bool] = True
    # Content types accepted per method for request bodies.
    body_types: ClassVar[dict[str, tuple[str, ...]]] = {
        "POST": (JSON_TYPE,),
        "PUT": (JSON_TYPE,),
        "PATCH": (JSON_TYPE, MERGE_PATCH_TYPE, JSON_PATCH_TYPE),
    }

    def methods(self) -> list[str]:
        methods = [m for m in self.allowed_methods if self.method_enabled(m)]
        if kinto_settings.readonly:
            methods = [m for m in methods if m in READ_METHODS]
        return methods

    def method_enabled(self, method: str) -> bool:
        return True

    def allow_header(self) -> list[str]:
        return [*self.methods(), "OPTIONS"]

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        method = request.method
        if method not in self.methods():
            raise errors.method_not_allowed(self.allow_header())
        accept = request.META.get("HTTP_ACCEPT")
        if self.negotiate_accept and accept and not accepts_json(accept):
            description = f"Accept header should be one of ['{JSON_TYPE}']"
            raise errors.invalid("header", "Accept", description, status=406)
        types = self.body_types.get(method)
        content_type = request.META.get("CONTENT_TYPE", "")
        if types and content_type and media_type(content_type) not in types:
            description = f"Content-Type header should be one of {list(types)}"
            raise errors.invalid("header", "Content-Type", description, status=415)

    def exposed_headers(self, method: str) -> tuple[str, ...]:
        """Headers listed in `Access-Control-Expose-Headers` for this endpoint and method,
        on successes and errors alike (spec/00, CORS)."""
        if self.endpoint == "plural":
            if method == "GET":
                return (*ALWAYS_EXPOSED, *LIST_EXPOSED)
            if method == "HEAD":
                return (*ALWAYS_EXPOSED, *LIST_EXPOSED, *TOTALS_EXPOSED)
        elif self.endpoint == "object" and method in ("GET", "HEAD"):
            return (*ALWAYS_EXPOSED, *OBJECT_EXPOSED)
        return ALWAYS_EXPOSED

    @property
    def default_response_headers(self) -> dict[str, str]:
        # DRF would add `Allow` and `Vary` to every response; the protocol sends `Allow` on 405.
        return {}

    def get_exception_handler(self):
        return errors.exception_handler

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> None:
        raise errors.method_not_allowed(self.allow_header())

    @property
    def identity(self) -> Identity:
        return principals_for(self.request._request)

    def deny(self) -> errors.KintoError:
        """401 for anonymous callers (so that clients ask for credentials), 403 otherwise."""
        return errors.forbidden() if self.identity.authenticated else errors.unauthorized()
