"""Root view, heartbeats, version and contribute.json (spec/06)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import tomllib
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler
from django.utils.connection import ConnectionProxy

from kinto_django.core.api.endpoints import health

# --- GET / ---------------------------------------------------------------------------------


def test_root_fields(anonymous):
    response = anonymous.get("/")
    assert response.status == 200
    body = response.json
    assert body["http_api_version"] == "1.23"
    assert body["project_name"] == "kinto"
    # The package's version, read from the checkout's pyproject.toml (or the installed
    # distribution's metadata): never "unknown".
    checkout = Path(__file__).resolve().parents[3] / "pyproject.toml"
    assert body["project_version"] == tomllib.loads(checkout.read_text())["project"]["version"]
    assert body["project_docs"].startswith("https://")
    assert body["url"] == "http://testserver/v1/"
    assert body["settings"] == {
        "batch_max_requests": 25,
        "readonly": False,
        "explicit_permissions": True,
    }
    assert body["capabilities"]["basicauth"]["description"]
    assert body["capabilities"]["basicauth"]["url"].startswith("http")
    assert body["config"] is None
    assert "user" not in body
    assert "eos" not in body
    assert response.headers["Content-Type"] == "application/json"
    assert "Cache-Control" not in response.headers


def test_root_needs_no_valid_credentials(api):
    response = api.get("/", headers={"Authorization": "Basic !!!notbase64"})
    assert response.status == 200
    assert "user" not in response.json


def test_root_user_when_authenticated(api):
    user = api.get("/").json["user"]
    user_id = user["id"]
    assert user_id.startswith("basicauth:")
    assert set(user["principals"]) == {user_id, "system.Everyone", "system.Authenticated"}


def test_root_user_id_is_the_hmac_of_the_credentials(api, kinto_settings):
    kinto_settings(userid_hmac_secret="some-secret")
    user_id = api.get("/", headers={"Authorization": basic_header("alice", "s3cr3t")}).json[
        "user"
    ]["id"]
    # The same id as the reference server computes for these credentials and secret.
    assert user_id == "basicauth:419510af712288ddb339ec4dd9e526c79badd7c9506dae065f7027d3a066b8a0"


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_root_settings_follow_configuration(anonymous, kinto_settings):
    kinto_settings(batch_max_requests="10", explicit_permissions="false", readonly="true")
    assert anonymous.get("/").json["settings"] == {
        "batch_max_requests": 10,
        "readonly": True,
        "explicit_permissions": False,
    }


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({"http_host": "api.example.com"}, "http://api.example.com/v1/"),
        ({"http_scheme": "https"}, "https://testserver/v1/"),
        (
            {"http_scheme": "https", "http_host": "api.example.com:8443"},
            "https://api.example.com:8443/v1/",
        ),
    ],
)
def test_root_url_honours_proxy_settings(anonymous, kinto_settings, overrides, url):
    kinto_settings(**overrides)
    assert anonymous.get("/").json["url"] == url


def test_root_url_uses_request_host(anonymous):
    response = anonymous.get("/", headers={"Host": "kinto.example.org"})
    assert response.json["url"] == "http://kinto.example.org/v1/"


def test_root_project_fields_are_settings(anonymous, kinto_settings):
    kinto_settings(
        project_name="storage",
        project_version="9.9",
        project_docs="https://docs.example.com/",
        http_api_version="1.22",
    )
    body = anonymous.get("/").json
    assert (body["project_name"], body["project_version"]) == ("storage", "9.9")
    assert body["project_docs"] == "https://docs.example.com/"
    assert body["http_api_version"] == "1.22"


def test_root_eos(anonymous, kinto_settings):
    kinto_settings(eos="2999-01-01")
    response = anonymous.get("/")
    assert response.json["eos"] == "2999-01-01"


def test_root_is_cacheable_in_read_only_mode(anonymous, kinto_settings):
    kinto_settings(readonly=True)
    response = anonymous.get("/")
    assert response.headers["Cache-Control"] == "max-age=86400"
    expires = parsedate_to_datetime(response.headers["Expires"]).timestamp()
    assert 86300 < expires - time.time() < 86500
    kinto_settings(readonly=True, root_cache_expires_seconds=60)
    assert anonymous.get("/").headers["Cache-Control"] == "max-age=60"


def test_root_config_describes_the_ini_file(anonymous, settings, tmp_path):
    ini = tmp_path / "kinto.ini"
    ini.write_text("[kinto]\npaginate_by = 10\n")
    settings.KINTO_CONFIG_FILE = str(ini)
    config = anonymous.get("/").json["config"]
    assert config["path"] == str(ini)
    assert config["hash"] == hashlib.sha256(ini.read_bytes()).hexdigest()
    assert config["modified"].startswith(time.strftime("%Y-", time.gmtime()))


def test_root_capabilities_follow_auth_policies(anonymous, kinto_settings):
    kinto_settings(auth_policies="", metrics_enabled="false")
    # Only the installed apps' own features remain (the standalone project has attachments).
    assert set(anonymous.get("/").json["capabilities"]) == {"attachments"}


def test_root_head(anonymous):
    response = anonymous.head("/")
    assert response.status == 200
    assert response.content == b""
    assert response.headers["Content-Type"] == "application/json"


def test_root_ignores_accept(anonymous):
    assert anonymous.get("/", headers={"Accept": "text/html"}).status == 200


@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH", "DELETE"])
def test_root_is_read_only(anonymous, method):
    response = anonymous.request(method, "/", {})
    assert response.status == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


# --- __heartbeat__ -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_heartbeat_checks_the_real_backends(client):
    response = client.get("/v1/__heartbeat__")
    assert response.status_code == 200
    assert response.json() == {
        "storage": True,
        "permission": True,
        "cache": True,
        "attachments": True,
    }


def test_heartbeat_fails_when_the_database_is_unreachable(anonymous, monkeypatch, tmp_path):
    """The storage check pointed at a database that cannot be opened."""
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(tmp_path / "missing-dir" / "db.sqlite3"),
            }
        }
    )
    unreachable = ConnectionProxy(handler, "default")
    monkeypatch.setattr(health, "connection", unreachable)
    monkeypatch.setattr(health, "check_permission_store", lambda: True)
    monkeypatch.setattr(health, "check_cache", lambda: True)
    response = anonymous.get("/v1/__heartbeat__")
    assert response.status == 503
    assert response.json == {
        "storage": False,
        "permission": True,
        "cache": True,
        "attachments": True,
    }
    assert response.headers["Retry-After"] == "3"


@pytest.fixture
def fake_checks(monkeypatch):
    def install(**checks):
        monkeypatch.setattr(health, "heartbeat_checks", lambda: checks)

    return install


def test_heartbeat_is_503_when_a_check_fails(anonymous, fake_checks):
    def broken():
        raise OperationalError("connection refused")

    fake_checks(storage=lambda: True, permission=broken, cache=lambda: False)
    response = anonymous.get("/v1/__heartbeat__")
    assert response.status == 503
    assert response.json == {"storage": True, "permission": False, "cache": False}


def test_heartbeat_none_counts_as_healthy(anonymous, fake_checks):
    fake_checks(storage=lambda: True, attachments=lambda: None)
    response = anonymous.get("/v1/__heartbeat__")
    assert response.status == 200
    assert response.json == {"storage": True, "attachments": None}


def test_heartbeat_times_out(anonymous, fake_checks, kinto_settings):
    release = threading.Event()

    def hanging():
        release.wait(5)
        return True

    kinto_settings(heartbeat_timeout_seconds="0.3")
    fake_checks(storage=lambda: True, permission=hanging, cache=hanging)
    started = time.monotonic()
    try:
        response = anonymous.get("/v1/__heartbeat__")
    finally:
        release.set()
    elapsed = time.monotonic() - started
    assert response.status == 503
    assert response.json == {"storage": True, "permission": False, "cache": False}
    # Checks run concurrently and the hung ones are not waited for.
    assert elapsed < 2


def test_heartbeat_head(anonymous, fake_checks):
    fake_checks(storage=lambda: True)
    response = anonymous.head("/v1/__heartbeat__")
    assert response.status == 200
    assert response.content == b""


def test_lbheartbeat(anonymous):
    response = anonymous.get("/v1/__lbheartbeat__")
    assert response.status == 200
    assert response.json == {}


# --- __version__ and contribute.json -------------------------------------------------------


def test_version_serves_version_json(anonymous, kinto_settings, tmp_path):
    content = {"name": "kinto", "version": "1.2.3", "source": "https://x", "commit": "abc"}
    path = tmp_path / "version.json"
    path.write_text(json.dumps(content))
    kinto_settings(version_json_path=str(path))
    response = anonymous.get("/v1/__version__")
    assert response.status == 200
    assert response.json == content


def test_version_without_file_describes_the_package(anonymous, kinto_settings, tmp_path):
    kinto_settings(version_json_path=str(tmp_path / "absent.json"), project_version="4.5.6")
    response = anonymous.get("/v1/__version__")
    assert response.status == 200
    assert set(response.json) == {"name", "version", "source", "commit"}
    assert response.json["version"] == "4.5.6"


def test_contribute_json(anonymous):
    response = anonymous.get("/v1/contribute.json")
    assert response.status == 200
    assert response.json["name"] == "kinto"
    assert response.json["description"]


@pytest.mark.parametrize(
    "path", ["/v1/__heartbeat__", "/v1/__lbheartbeat__", "/v1/__version__", "/v1/contribute.json"]
)
def test_utility_endpoints_need_no_auth_and_refuse_writes(anonymous, fake_checks, path):
    fake_checks(storage=lambda: True)
    assert anonymous.get(path).status == 200
    response = anonymous.post(path, {})
    assert response.status == 405
    assert response.json["errno"] == 115
