"""HTTP plumbing shared by every endpoint: the base view, JSON responses, body parsing,
content negotiation, absolute URLs and precondition headers (spec/00, spec/02)."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse
from rest_framework.views import APIView

from kinto_django import errors, jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core.api.renderers import JSONRenderer
from kinto_django.permissions.service import Identity, principals_for

JSON_TYPE = "application/json"
MERGE_PATCH_TYPE = "application/merge-patch+json"
JSON_PATCH_TYPE = "application/json-patch+json"
READ_METHODS = ("GET", "HEAD", "OPTIONS")
# CORS: headers a browser script may read, on every response and per kind of endpoint
# (`X-Request-Id` is this server's addition: core.middleware sets it).
ALWAYS_EXPOSED = (
    "Backoff",
    "Retry-After",
    "Alert",
    "Content-Length",
    "Content-Type",
    "X-Request-Id",
)
OBJECT_EXPOSED = ("Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")
LIST_EXPOSED = ("Next-Page", *OBJECT_EXPOSED)
TOTALS_EXPOSED = ("Total-Objects", "Total-Records")


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(jsonutil.dumps(body), status=status, content_type=JSON_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def raw_json_response(
    content: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(content, status=status, content_type=JSON_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# The last instant an HTTP date can express (9999-12-31T23:59:59Z), in milliseconds.
MAX_HTTP_DATE_MS = 253402300799000


def http_date(timestamp_ms: int) -> str:
    """HTTP date of a millisecond timestamp, clamped to what the format can express: forced
    `last_modified` values and `cache_expires` may lie far beyond the year 9999."""
    return formatdate(min(max(timestamp_ms, 0), MAX_HTTP_DATE_MS) / 1000.0, usegmt=True)


def timestamp_headers(timestamp: int) -> dict[str, str]:
    """`ETag` (quoted milliseconds) and `Last-Modified` of the same instant."""
    return {"ETag": f'"{timestamp}"', "Last-Modified": http_date(timestamp)}


def expose(response: HttpResponse, *names: str) -> HttpResponse:
    """Headers the CORS middleware must list in Access-Control-Expose-Headers."""
    existing = getattr(response, "kinto_expose", ())
    response.kinto_expose = (*existing, *names)
    return response


def media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        candidate = media_type(part)
        params = part.split(";")[1:]
        if any(
            p.strip().replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params
        ):
            continue
        if candidate in ("*/*", "application/*", JSON_TYPE, "") or candidate.endswith("+json"):
            return True
    return False


def mounted_api_root() -> str:
    """Where the site's URLconf mounts the API, without trailing slash: `/v1` on the
    standalone server, e.g. `/api/storage/v1` in a host site."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("kinto:root").rstrip("/")
    except NoReverseMatch:
        return "/v1"


def api_root(request: HttpRequest) -> str:
    """The path of the API root for this request, without trailing slash (e.g. `/v1`)."""
    root = getattr(request, "kinto_api_root", None)
    if root is None:
        root = request.kinto_api_root = mounted_api_root()
    return root


def absolute_url(request: HttpRequest, path: str) -> str:
    """`scheme://host` + path, honouring the `http_scheme`/`http_host` settings (proxies)."""
    scheme = kinto_settings.http_scheme or request.scheme
    host = kinto_settings.http_host or request.get_host()
    return f"{scheme}://{host}{path}"


def application_url(request: HttpRequest, path: str = "") -> str:
    """Absolute URL under the API root, honouring the `http_scheme`/`http_host` settings."""
    return absolute_url(request, api_root(request) + path)


def read_body(request: HttpRequest) -> bytes:
    """The raw body, refusing more than `max_request_body_bytes` (413)."""
    cached = getattr(request, "kinto_body", None)
    if cached is not None:
        return cached
    limit = kinto_settings.max_request_body_bytes
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large(limit)
    body = request.read(limit + 1) if declared else b""
    if len(body) > limit:
        raise too_large(limit)
    request.kinto_body = body
    return body


def too_large(limit: int) -> errors.KintoError:
    return errors.KintoError(
        413,
        errors.ERRNO.INVALID_PARAMETERS,
        f"Request body is larger than {limit} bytes",
        error="Request Entity Too Large",
    )


def parse_json_body(request: HttpRequest) -> Any:
    """The JSON body (None when empty), checked for syntax, depth and storable characters."""
    raw = read_body(request)
    if not raw.strip():
        return None
    try:
        value = jsonutil.loads(raw)
    except jsonutil.JSONInputError as error:
        description = f"Invalid JSON: {error}"
        raise errors.invalid_many(
            [
                {"location": "body", "name": "", "description": description},
                {"location": "body", "name": "", "description": "Required"},
            ]
        ) from None
    if not isinstance(value, (dict, list)):
        raise errors.invalid_many(
            [
                {
                    "location": "body",
                    "name": "",
                    "description": "Should be a JSON object or an array",
                },
                {"location": "body", "name": "", "description": "Required"},
            ]
        )
    problem = jsonutil.check_structure(value, kinto_settings.max_json_depth)
    if problem:
        raise errors.invalid("body", "", problem)
    return value


def parse_precondition(request: HttpRequest, header: str) -> int | str | None:
    """`If-Match`/`If-None-Match`: a quoted integer, `*`, or absent; anything else is a 400."""
    raw = request.META.get("HTTP_" + header.upper().replace("-", "_"))
    if raw is None:
        return None
    value = raw.strip()
    if value == "*":
        return "*"
    if (
        len(value) >= 3
        and value[0] == value[-1] == '"'
        and value[1:-1].isdigit()
        and len(value) < 25
    ):
        return int(value[1:-1])
    raise errors.invalid("header", header, "The value should be integer between double quotes.")


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
