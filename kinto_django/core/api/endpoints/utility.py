"""Utility endpoints (spec/06): the root "hello" view, `__version__` and `contribute.json`."""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpResponse

from kinto_django import jsonutil
from kinto_django.conf import kinto_settings
from kinto_django.core import capabilities
from kinto_django.core.api.base import ProtocolView
from kinto_django.core.api.locations import application_url
from kinto_django.core.api.responses import http_date, json_response
from kinto_django.core.timestamps import now_ms
from kinto_django.version import package_info, project_version


class UtilityView(ProtocolView):
    """Base of the utility endpoints: they answer JSON whatever the `Accept` header says."""

    negotiate_accept = False


class RootView(UtilityView):
    """`GET /`: server information, capabilities and the current user."""

    allowed_methods = ("GET", "HEAD")

    def get(self, request: Any) -> HttpResponse:
        identity = self.identity
        body: dict[str, Any] = {
            "project_name": kinto_settings.project_name,
            "project_version": project_version(),
            "http_api_version": kinto_settings.http_api_version,
            "project_docs": kinto_settings.project_docs,
            "url": application_url(request._request, "/"),
            "settings": {
                "batch_max_requests": kinto_settings.batch_max_requests,
                "readonly": kinto_settings.readonly,
                "explicit_permissions": kinto_settings.explicit_permissions,
                **capabilities.public_settings(),
            },
            "capabilities": capabilities.enabled(request._request),
            "config": config_file_info(),
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


def config_file_info() -> dict[str, str] | None:
    """Which configuration file the server runs with (`KINTO_INI`), so operators can tell
    whether a deployment picked up a change; None without a file."""
    path = getattr(settings, "KINTO_CONFIG_FILE", None)
    if not path:
        return None
    try:
        content = Path(path).read_bytes()
        modified = os.stat(path).st_mtime
    except OSError:
        return None
    return {
        "path": str(path),
        "hash": hashlib.sha256(content).hexdigest(),
        "modified": datetime.datetime.fromtimestamp(modified, datetime.UTC).isoformat(),
    }


class VersionView(UtilityView):
    """`GET /__version__`: `version.json` if present (written by a deployment pipeline),
    else the installed package's metadata."""

    def get(self, request: Any) -> HttpResponse:
        path = Path(kinto_settings.version_json_path)
        if not path.is_absolute() and hasattr(settings, "BASE_DIR"):
            path = Path(settings.BASE_DIR) / path
        if path.is_file():
            try:
                return json_response(jsonutil.loads(path.read_bytes()))
            except ValueError:
                pass
        package = package_info()
        return json_response(
            {
                "name": package["name"],
                "version": project_version(),
                "source": package["source"],
                "commit": os.environ.get("KINTO_COMMIT", "unknown"),
            }
        )


class ContributeView(UtilityView):
    """`GET /contribute.json`: open-source project metadata (the contribute.json format)."""

    def get(self, request: Any) -> HttpResponse:
        return json_response(
            {
                "name": kinto_settings.project_name,
                "description": (
                    "A JSON storage service with synchronisation and sharing, "
                    "speaking the Kinto HTTP API v1."
                ),
                "repository": {"license": "Apache License (2.0)"},
                "participate": {"docs": kinto_settings.project_docs},
                "bugs": {"report": kinto_settings.error_info_link},
                "keywords": ["JSON", "Python", "Django", "REST", "API", "Database"],
            }
        )
