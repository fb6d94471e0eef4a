"""Utility endpoints (spec/06): the root "hello" view, health checks, version, batch,
redirects and the JSON 404 for unknown URLs."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from copy import deepcopy
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from core import capabilities, errors, jsonutil
from core.conf import kinto_settings
from core.events import EventCollector
from core.http import (
    JSON_TYPE,
    ProtocolView,
    application_url,
    http_date,
    json_response,
    parse_json_body,
)
from core.timestamps import now_ms

BATCH_METHODS = ("GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH")
BATCH_REQUEST_KEYS = ("path", "method", "headers", "body")


class RootView(ProtocolView):
    """`GET /`: server information, capabilities and the current user."""

    allowed_methods = ("GET", "HEAD")

    def get(self, request: Any) -> HttpResponse:
        identity = self.identity
        body: dict[str, Any] = {
            "project_name": kinto_settings.project_name,
            "project_version": kinto_settings.project_version,
            "http_api_version": kinto_settings.http_api_version,
            "project_docs": kinto_settings.project_docs,
            "url": application_url(request._request, "/"),
            "settings": {
                "batch_max_requests": kinto_settings.batch_max_requests,
                "readonly": kinto_settings.readonly,
                "explicit_permissions": kinto_settings.explicit_permissions,
                **capabilities.public_settings(),
            },
            "capabilities": capabilities.enabled(),
        }
        if kinto_settings.eos:
            body["eos"] = kinto_settings.eos
        if identity.authenticated:
            body["user"] = {
                "id": identity.user_id,
                "principals": list(identity.principals),
                **capabilities.user_extras(identity),
            }
        response = json_response(body)
        if kinto_settings.readonly:
            seconds = kinto_settings.root_cache_expires_seconds
            response["Cache-Control"] = f"max-age={seconds}"
            response["Expires"] = http_date(now_ms() + seconds * 1000)
        return response

    def head(self, request: Any) -> HttpResponse:
        response = self.get(request)
        response.content = b""
        return response


def run_with_timeout(check, timeout: float) -> bool:
    """Run one health check in a worker thread; a timeout or an error counts as a failure."""

    def guarded() -> bool:
        try:
            return bool(check())
        except Exception:  # noqa: BLE001 - any failure means "unhealthy"
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(guarded)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            return False


def check_storage() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1


def check_permission_store() -> bool:
    from django.contrib.auth.models import Group

    Group.objects.exists()
    return True


def check_cache() -> bool:
    key = f"kinto:heartbeat:{os.getpid()}"
    cache.set(key, "ok", 10)
    return cache.get(key) == "ok"


class HeartbeatView(ProtocolView):
    """`GET /__heartbeat__`: 503 if a backend does not answer within the timeout."""

    def get(self, request: Any) -> HttpResponse:
        timeout = kinto_settings.heartbeat_timeout_seconds
        checks = {
            "storage": check_storage,
            "permission": check_permission_store,
            "cache": check_cache,
            **capabilities.heartbeats(),
        }
        results = {name: run_with_timeout(check, timeout) for name, check in checks.items()}
        status = 200 if all(v is not False for v in results.values()) else 503
        return json_response(results, status)

    def head(self, request: Any) -> HttpResponse:
        response = self.get(request)
        response.content = b""
        return response


class LBHeartbeatView(ProtocolView):
    """`GET /__lbheartbeat__`: the process is up (no backend checked)."""

    def get(self, request: Any) -> HttpResponse:
        return json_response({})


class VersionView(ProtocolView):
    """`GET /__version__`: `version.json` if present, else the package's own metadata."""

    def get(self, request: Any) -> HttpResponse:
        path = Path(kinto_settings.version_json_path)
        if not path.is_absolute():
            path = Path(settings.BASE_DIR) / path if hasattr(settings, "BASE_DIR") else path
        if path.is_file():
            try:
                return json_response(jsonutil.loads(path.read_bytes()))
            except ValueError:
                pass
        return json_response(
            {
                "name": kinto_settings.project_name,
                "version": kinto_settings.project_version,
                "source": kinto_settings.project_docs,
                "commit": os.environ.get("KINTO_COMMIT", "unknown"),
            }
        )


class ContributeView(ProtocolView):
    """`GET /contribute.json`: open-source project metadata."""

    def get(self, request: Any) -> HttpResponse:
        return json_response(
            {
                "name": kinto_settings.project_name,
                "description": "A JSON storage service with synchronisation and sharing (Kinto HTTP API v1).",
                "urls": {"docs": kinto_settings.project_docs},
            }
        )


def api_root(request: HttpRequest) -> str:
    """The path of the API root for this request, without trailing slash (e.g. `/v1`)."""
    root = getattr(request, "kinto_api_root", None)
    if root is None:
        from django.urls import reverse

        root = reverse("kinto:root").rstrip("/")
        request.kinto_api_root = root
    return root


def merge_defaults(defaults: Any, values: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(values, dict):
        merged = dict(defaults)
        for key, value in values.items():
            merged[key] = merge_defaults(defaults.get(key), value) if key in defaults else value
        return merged
    return values


def check_batch_request(item: Any, name: str, path_required: bool) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise errors.invalid(
            "body",
            name,
            f'"{item}" is not a mapping type: Does not implement dict-like functionality.',
        )
    unknown = {k: v for k, v in item.items() if k not in BATCH_REQUEST_KEYS}
    if unknown:
        raise errors.invalid("body", name, f'Unrecognized keys in mapping: "{unknown}"')
    if "path" in item:
        path = item["path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise errors.invalid("body", f"{name}.path", "String does not match expected pattern")
    elif path_required:
        raise errors.invalid("body", f"{name}.path", "Required")
    method = item.get("method", "GET")
    if method not in BATCH_METHODS:
        raise errors.invalid(
            "body", f"{name}.method", f'"{method}" is not one of {", ".join(BATCH_METHODS)}'
        )
    headers = item.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(v, str) and isinstance(k, str) for k, v in headers.items()
    ):
        raise errors.invalid("body", f"{name}.headers", f"{headers} contains non string value")
    if "body" in item and not isinstance(item["body"], dict):
        raise errors.invalid(
            "body",
            f"{name}.body",
            f'"{item["body"]}" is not a mapping type: Does not implement dict-like functionality.',
        )
    return item


class BatchAborted(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


class BatchView(ProtocolView):
    """`POST /batch`: sub-requests in one transaction, each authorized on its own."""

    allowed_methods = ("POST",)

    def post(self, request: Any) -> HttpResponse:
        outer = request._request
        body = parse_json_body(outer)
        if not isinstance(body, dict):
            raise errors.invalid(
                "body",
                "",
                f'"{body}" is not a mapping type: Does not implement dict-like functionality.',
            )
        unknown = {k: v for k, v in body.items() if k not in ("requests", "defaults")}
        if unknown:
            raise errors.invalid("body", "", f'Unrecognized keys in mapping: "{unknown}"')
        if "requests" not in body:
            raise errors.invalid("body", "requests", "Required")
        requests = body["requests"]
        if not isinstance(requests, list):
            raise errors.invalid("body", "requests", f'"{requests}" is not iterable')
        defaults = body.get("defaults", {})
        if defaults:
            check_batch_request(defaults, "defaults", path_required=False)
        limit = kinto_settings.batch_max_requests
        if limit and len(requests) > limit:
            raise errors.invalid("body", "requests", f"Number of requests is limited to {limit}")
        subrequests = []
        for index, item in enumerate(requests):
            check_batch_request(item, f"requests.{index}", path_required="path" not in defaults)
            merged = merge_defaults(deepcopy(defaults), item)
            check_batch_request(merged, f"requests.{index}", path_required=True)
            if "/batch" in urlsplit(merged["path"]).path:
                raise errors.invalid(
                    "body", "requests", "Recursive call on /batch endpoint is forbidden."
                )
            subrequests.append(merged)

        collector = EventCollector()
        outer.kinto_events = collector
        root = api_root(outer)
        responses = []
        try:
            with transaction.atomic():
                for sub in subrequests:
                    responses.append(self.run_subrequest(outer, sub, root))
        except BatchAborted as aborted:
            collector.discard()
            return aborted.response
        collector.send_on_commit()
        return json_response({"responses": responses})

    def run_subrequest(self, outer: HttpRequest, sub: dict[str, Any], root: str) -> dict[str, Any]:
        path = sub["path"]
        if not (path == root or path.startswith(root + "/")):
            path = root + path
        method = sub.get("method", "GET")
        for _ in range(3):  # follow redirects (e.g. trailing slash)
            request = build_subrequest(
                outer, method, path, sub.get("headers", {}), sub.get("body")
            )
            savepoint = transaction.savepoint()
            response = dispatch(request)
            if response.status_code >= 500:
                transaction.savepoint_rollback(savepoint)
                raise BatchAborted(response)
            if response.status_code >= 400:
                transaction.savepoint_rollback(savepoint)
            else:
                transaction.savepoint_commit(savepoint)
            if response.status_code in (301, 302, 307, 308) and response.get("Location"):
                location = urlsplit(response["Location"])
                path = location.path + (f"?{location.query}" if location.query else "")
                continue
            break
        return {
            "path": unquote(urlsplit(path).path),
            "status": response.status_code,
            "headers": {name: value for name, value in response.items()},
            "body": response_body(response, method),
        }


def response_body(response: HttpResponse, method: str) -> Any:
    if method == "HEAD":
        return ""
    content = response.content
    if not content:
        return ""
    try:
        return jsonutil.loads_stored(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def build_subrequest(
    outer: HttpRequest, method: str, path: str, headers: dict[str, str], body: Any
) -> WSGIRequest:
    """A request sharing the outer request's environment, identities and event collector."""
    parts = urlsplit(path)
    environ = {
        k: v
        for k, v in outer.META.items()
        if k not in ("CONTENT_LENGTH", "CONTENT_TYPE", "wsgi.input")
    }
    payload = jsonutil.dumps(body) if body is not None else b""
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    if body is not None:
        environ["CONTENT_TYPE"] = f"{JSON_TYPE}; charset=utf-8"
    environ.update(
        {
            "REQUEST_METHOD": method,
            # WSGI strings are bytes decoded as latin-1 (`/buckets/%ff` or `/é` must not 500).
            "PATH_INFO": unquote_to_bytes(parts.path).decode("latin-1"),
            "QUERY_STRING": parts.query.encode().decode("latin-1"),
            "CONTENT_LENGTH": str(len(payload)),
            "wsgi.input": io.BytesIO(payload),
        }
    )
    environ.pop("HTTP_CONTENT_LENGTH", None)
    request = WSGIRequest(environ)
    request.kinto_identities = getattr(outer, "kinto_identities", {})
    request.kinto_events = outer.kinto_events
    request.kinto_in_batch = True
    request.kinto_api_root = getattr(outer, "kinto_api_root", None) or api_root(outer)
    return request


def dispatch(request: WSGIRequest) -> HttpResponse:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return errors.error_response(errors.url_not_found())
    request.resolver_match = match
    try:
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render") and callable(response.render):
            response = response.render()
        return response
    except Exception as exc:  # noqa: BLE001 - the batch reports every failure inline
        return errors.error_response(errors.as_kinto_error(exc))


def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Unknown URL under the API: a trailing slash is redirected, anything else is a 404."""
    if (
        path.endswith("/")
        and kinto_settings.trailing_slash_redirect_enabled
        and request.method != "OPTIONS"
    ):
        target = request.path.rstrip("/")
        try:
            resolve(target)
        except Resolver404:
            target = None
        if target:
            query = request.META.get("QUERY_STRING")
            response = redirect_response(
                target + (f"?{query}" if query else ""),
                request,
                kinto_settings.trailing_slash_redirect_ttl_seconds,
            )
            return response
    return errors.error_response(errors.url_not_found())


def redirect_response(path: str, request: HttpRequest, ttl: int) -> HttpResponse:
    scheme = kinto_settings.http_scheme or request.scheme
    host = kinto_settings.http_host or request.get_host()
    response = HttpResponse(
        f"307 Temporary Redirect\n\nThe resource has been moved to {path}",
        status=307,
        content_type="text/plain; charset=UTF-8",
    )
    response["Location"] = f"{scheme}://{host}{path}"
    if ttl > 0:
        response["Cache-Control"] = f"max-age={ttl}"
        response["Expires"] = http_date(now_ms() + ttl * 1000)
    elif ttl == 0:
        response["Cache-Control"] = "no-cache"
    return response


def version_redirect(request: HttpRequest, path: str = "") -> HttpResponse:
    """A path without version prefix answers 307 to the same path under `/v1` (spec/00)."""
    if not kinto_settings.version_prefix_redirect_enabled:
        return errors.error_response(errors.url_not_found())
    query = request.META.get("QUERY_STRING")
    target = f"{request.path[: len(request.path) - len(path)]}v1/{path}" + (
        f"?{query}" if query else ""
    )
    return redirect_response(target, request, kinto_settings.version_prefix_redirect_ttl_seconds)


def root_redirect(request: HttpRequest) -> HttpResponse:
    query = request.META.get("QUERY_STRING")
    return redirect_response(request.path + "/" + (f"?{query}" if query else ""), request, -1)


def unsupported_version(request: HttpRequest, path: str = "") -> HttpResponse:
    return errors.error_response(
        errors.KintoError(
            404,
            errors.ERRNO.VERSION_NOT_AVAILABLE,
            "The requested API version is not available on this server.",
        )
    )
