"""A host site's `REST_FRAMEWORK` defaults never change the API's behaviour.

The same conversation with the API (reads and writes, lists with filters and pages, errors
of every kind, a batch, JSON-Patch, HEAD, a CORS pre-flight, anonymous and authenticated
callers) runs in two server processes: one with DRF's defaults, one with defaults a site could
well have and that would break the protocol if the API's views inherited them. DRF reads its
defaults into its classes when they are defined, so only a process started with them shows
what a host site gets. Every answer must be the same. (The conversation runs on a SQLite file
of its own: it is about the API's DRF configuration, not about the database.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client

from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

HOSTILE = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.FormParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 1,
    "DEFAULT_FILTER_BACKENDS": ["rest_framework.filters.OrderingFilter"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": "1/day"},
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.QueryParameterVersioning",
    "ALLOWED_VERSIONS": ["1.0"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tests.embedding.test_drf_defaults.RefusingNegotiation",
    "DEFAULT_METADATA_CLASS": None,
    "EXCEPTION_HANDLER": "tests.embedding.test_drf_defaults.site_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "URL_FORMAT_OVERRIDE": "format",
}


class RefusingNegotiation:
    """A negotiation class that accepts nothing: the API must not use it."""

    def select_parser(self, request: Any, parsers: Any) -> None:
        raise AssertionError("the host's negotiation class was used")

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> None:
        raise AssertionError("the host's negotiation class was used")


def site_exception_handler(exc: Exception, context: Any) -> Any:
    raise AssertionError("the host's exception handler was used")


RECORDS = "/buckets/shop/collections/orders/records"

CONVERSATION: list[tuple[str | None, str, str, Any, dict[str, str]]] = [
    # (user, method, path, body, headers)
    (None, "GET", "/", None, {}),
    (None, "GET", "/buckets", None, {}),
    ("alice", "PUT", "/buckets/shop", {"permissions": {"read": ["system.Everyone"]}}, {}),
    ("alice", "PUT", "/buckets/shop/collections/orders", {}, {}),
    *[("alice", "POST", RECORDS, {"data": {"id": f"r{i}", "qty": i}}, {}) for i in range(5)],
    (None, "GET", f"{RECORDS}?_limit=2&_sort=-qty", None, {}),
    (None, "GET", f"{RECORDS}?min_qty=3&format=api", None, {}),
    (None, "HEAD", RECORDS, None, {}),
    (None, "GET", f"{RECORDS}/r1", None, {}),
    (None, "GET", f"{RECORDS}/r1", None, {"Accept": "text/html"}),
    (None, "PUT", f"{RECORDS}/r1", {"data": {"qty": 9}}, {}),
    ("bob", "PUT", f"{RECORDS}/r1", {"data": {"qty": 9}}, {}),
    ("alice", "PATCH", f"{RECORDS}/r1", {"data": {"note": "x"}}, {}),
    (
        "alice",
        "PATCH",
        f"{RECORDS}/r1",
        [{"op": "add", "path": "/data/y", "value": 1}],
        {"Content-Type": "application/json-patch+json"},
    ),  # fmt: skip
    (
        "alice",
        "PUT",
        f"{RECORDS}/r2",
        b"a=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    ("alice", "PUT", f"{RECORDS}/r2", {"data": {}}, {"If-Match": '"1"'}),
    ("alice", "GET", f"{RECORDS}/missing", None, {}),
    ("alice", "GET", f"{RECORDS}?_sort=qty&_limit=nope", None, {}),
    ("alice", "DELETE", f"{RECORDS}/r3", None, {}),
    ("alice", "DELETE", f"{RECORDS}?_limit=1", None, {}),
    (
        "alice",
        "POST",
        "/batch",
        {"requests": [{"method": "GET", "path": RECORDS}, {"path": "/buckets/nope"}]},
        {},
    ),
    (
        None,
        "OPTIONS",
        RECORDS,
        None,
        {"Origin": "http://app", "Access-Control-Request-Method": "GET"},
    ),
    (None, "GET", "/v1/__heartbeat__", None, {}),
]

# Headers that differ from one run to the other whatever the settings.
VARYING = {"Date", "X-Request-Id", "ETag", "Last-Modified", "Expires", "Next-Page"}


def converse() -> list[tuple[int, dict[str, str], Any]]:
    """The conversation's answers, from an empty database (rolled back afterwards), without
    what varies from one run to the other (timestamps, request ids)."""
    cache.clear()
    api = Api(Client(), user=None)
    answers = []
    with transaction.atomic():
        for user, method, path, body, headers in CONVERSATION:
            headers = dict(headers)
            content_type = headers.pop("Content-Type", "application/json")
            raw = body if isinstance(body, bytes) else None
            response = api.request(
                method,
                path,
                None if raw is not None else body,
                raw=raw,
                user=user,
                headers=headers,
                content_type=content_type,
            )
            answers.append(
                (
                    response.status,
                    without_varying(dict(response.headers)),
                    without_varying(response.json),
                )
            )
        transaction.set_rollback(True)
    return answers


def without_varying(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: without_varying(v)
            for k, v in value.items()
            if k not in VARYING and k != "last_modified"
        }
    if isinstance(value, list):
        return [without_varying(v) for v in value]
    return value


def conversation_in_process(tmp_path: Path, rest_framework: dict | None) -> list:
    """The conversation's answers from a new process whose settings hold `rest_framework`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings_module = tmp_path / "drf_site_settings.py"
    settings_module.write_text(
        "from kinto_project.settings import *  # noqa: F403\n"
        + (f"REST_FRAMEWORK = {rest_framework!r}\n" if rest_framework is not None else "")
    )
    script = (
        "import json, django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0); call_command('createcachetable')\n"
        "from tests.embedding.test_drf_defaults import converse\n"
        "print(json.dumps(converse()))\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KINTO_")},
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "drf_site_settings",
        "KINTO_STORAGE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hostile_rest_framework_defaults_change_no_answer(tmp_path):
    baseline = conversation_in_process(tmp_path / "plain", None)
    hostile = conversation_in_process(tmp_path / "hostile", HOSTILE)
    assert [answer[0] for answer in hostile] == [answer[0] for answer in baseline]
    for index, (expected, seen) in enumerate(zip(baseline, hostile, strict=True)):
        assert seen == expected, CONVERSATION[index][:3]
    # The conversation meets what it is meant to: successes and every kind of error.
    statuses = {answer[0] for answer in baseline}
    assert {200, 201, 400, 401, 403, 404, 406, 412, 415} <= statuses
