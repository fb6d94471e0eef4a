"""Configuration (spec/10, README "Configuration"): environment variables and INI files,
storage URLs, production safeguards, typed engine settings and their system checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from kinto_django.conf import kinto_settings as engine_settings
from kinto_django.core import checks
from kinto_django.core.api.middleware import ProtocolMiddleware
from kinto_project import config
from kinto_project.settings import database_from_url

PROJECT_DIR = Path(__file__).resolve().parents[2]

# --- environment and INI file --------------------------------------------------------------


def test_environment_variables(tmp_path):
    values = config.load(
        {
            "KINTO_PAGINATE_BY": "10",
            "KINTO_BUCKET_CREATE_PRINCIPALS": "system.Everyone",
            "KINTO_CORS-ORIGINS": "*",
            "OTHER": "ignored",
        }
    )
    assert values == {
        "paginate_by": "10",
        "bucket_create_principals": "system.Everyone",
        "cors_origins": "*",
    }


def write_ini(tmp_path: Path, text: str) -> str:
    path = tmp_path / "kinto.ini"
    path.write_text(text)
    return str(path)


def test_ini_kinto_section_and_app_main_prefix(tmp_path):
    ini = write_ini(
        tmp_path,
        "[app:main]\n"
        "use = egg:kinto\n"
        "kinto.paginate_by = 50\n"
        "kinto.readonly = true\n"
        "kinto.bucket.record_cache_expires_seconds = 30\n"
        "multiauth.policies = basicauth\n"
        "\n[kinto]\n"
        "paginate_by = 20\n"
        "Batch_Max_Requests = 5\n",
    )
    values = config.load({"KINTO_INI": ini})
    assert values["paginate_by"] == "20"  # [kinto] wins over [app:main]
    assert values["readonly"] == "true"
    assert values["batch_max_requests"] == "5"
    assert values["bucket_record_cache_expires_seconds"] == "30"
    assert values["auth_policies"] == "basicauth"
    assert "use" not in values


def test_environment_wins_over_ini(tmp_path):
    ini = write_ini(tmp_path, "[kinto]\npaginate_by = 20\nreadonly = true\n")
    values = config.load({"KINTO_INI": ini, "KINTO_PAGINATE_BY": "7"})
    assert values["paginate_by"] == "7"
    assert values["readonly"] == "true"


def test_explicit_auth_policies_win_over_multiauth(tmp_path):
    ini = write_ini(
        tmp_path, "[app:main]\nmultiauth.policies = account\nkinto.auth_policies = basicauth\n"
    )
    assert config.load({"KINTO_INI": ini})["auth_policies"] == "basicauth"


def test_missing_ini_file_fails_loudly(tmp_path):
    with pytest.raises(OSError):
        config.load({"KINTO_INI": str(tmp_path / "absent.ini")})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("a b", ["a", "b"]), ("a,b , c", ["a", "b", "c"]), ("", []), (["x"], ["x"])],
)
def test_lists(raw, expected):
    assert config.as_list(raw) == expected


# --- storage URLs --------------------------------------------------------------------------


def test_postgresql_url():
    database = database_from_url(
        "postgresql://kinto:p%40ss%2Fword@db.example.com:6543/kinto_prod?sslmode=require"
    )
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "kinto_prod"
    assert database["USER"] == "kinto"
    assert database["PASSWORD"] == "p@ss/word"
    assert database["HOST"] == "db.example.com"
    assert database["PORT"] == "6543"
    assert database["OPTIONS"] == {"sslmode": "require"}
    assert database["CONN_MAX_AGE"] == 600


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgresql_scheme_variants(scheme):
    database = database_from_url(f"{scheme}://postgres@localhost/kinto")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["PASSWORD"]) == ("localhost", "", "")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:////var/lib/kinto/db.sqlite3", "/var/lib/kinto/db.sqlite3"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_sqlite_url(url, name):
    database = database_from_url(url)
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == name
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_unsupported_storage_url():
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://localhost/kinto")


# --- the settings module, imported afresh with a given environment -------------------------

PROBE = (
    "import json, kinto_project.settings as s; "
    "print(json.dumps({'db': s.DATABASES['default'], 'hosts': s.ALLOWED_HOSTS, "
    "'debug': s.DEBUG, 'kinto': s.KINTO, 'config_file': s.KINTO_CONFIG_FILE}))"
)


def import_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
    clean.pop("DATABASE_URL", None)
    clean.setdefault("KINTO_STORAGE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    clean.update(env)
    clean = {k: v for k, v in clean.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_database_url_is_read_when_storage_url_is_absent(tmp_path):
    result = import_settings(
        tmp_path, KINTO_STORAGE_URL=None, DATABASE_URL="postgresql://u:p@db.example.com/app"
    )
    assert loaded(result)["db"]["HOST"] == "db.example.com"


def test_storage_url_wins_over_database_url(tmp_path):
    result = import_settings(
        tmp_path,
        KINTO_STORAGE_URL="postgresql://u:p@primary.example.com/app",
        DATABASE_URL="postgresql://u:p@other.example.com/app",
    )
    assert loaded(result)["db"]["HOST"] == "primary.example.com"


def test_development_defaults(tmp_path):
    result = import_settings(tmp_path)
    settings = loaded(result)
    assert settings["hosts"] == ["*"]
    assert settings["debug"] is False
    assert settings["config_file"] is None
    assert "development mode" in result.stderr


def test_settings_from_ini_reach_the_engine(tmp_path):
    ini = write_ini(tmp_path, "[app:main]\nkinto.paginate_by = 50\n[kinto]\nreadonly = true\n")
    settings = loaded(import_settings(tmp_path, KINTO_INI=ini, KINTO_BACKOFF="10"))
    assert settings["kinto"]["paginate_by"] == "50"
    assert settings["kinto"]["readonly"] == "true"
    assert settings["kinto"]["backoff"] == "10"
    assert settings["config_file"] == ini
    # Project-level variables are not engine settings.
    assert "ini" not in settings["kinto"]


PRODUCTION = {
    "KINTO_PRODUCTION": "true",
    "KINTO_SECRET_KEY": "a-real-secret-key-of-some-length",
    "KINTO_USERID_HMAC_SECRET": "a-real-hmac-secret",
    "KINTO_ALLOWED_HOSTS": "api.example.com",
}


def test_production_with_real_secrets_starts(tmp_path):
    result = import_settings(tmp_path, **PRODUCTION)
    settings = loaded(result)
    assert settings["hosts"] == ["api.example.com"]
    assert "development mode" not in result.stderr


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"KINTO_SECRET_KEY": None}, "KINTO_SECRET_KEY is not set"),
        ({"KINTO_USERID_HMAC_SECRET": None}, "KINTO_USERID_HMAC_SECRET is not set"),
        ({"KINTO_USERID_HMAC_SECRET": ""}, "KINTO_USERID_HMAC_SECRET is not set"),
        ({"KINTO_DEBUG": "true"}, "KINTO_DEBUG is on"),
        ({"KINTO_FLUSH_ENDPOINT_ENABLED": "true"}, "KINTO_FLUSH_ENDPOINT_ENABLED"),
        ({"KINTO_ALLOWED_HOSTS": None}, "KINTO_ALLOWED_HOSTS is empty"),
        ({"KINTO_ALLOWED_HOSTS": " , "}, "KINTO_ALLOWED_HOSTS is empty"),
    ],
)
def test_production_refuses_unsafe_settings(tmp_path, override, problem):
    result = import_settings(tmp_path, **{**PRODUCTION, **override})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Refusing to start in production mode" in result.stderr
    assert problem in result.stderr


def test_production_reports_every_problem_at_once(tmp_path):
    result = import_settings(tmp_path, KINTO_PRODUCTION="true", KINTO_DEBUG="1")
    assert result.returncode != 0
    for problem in ("KINTO_SECRET_KEY", "KINTO_USERID_HMAC_SECRET", "KINTO_DEBUG", "HOSTS"):
        assert problem in result.stderr


# --- engine settings: types and system checks ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("readonly", "true", True),
        ("readonly", "0", False),
        ("batch_max_requests", "10", 10),
        ("batch_max_requests", "", None),
        ("cors_origins", "https://a.org http://b.org", ["https://a.org", "http://b.org"]),
        ("cors_max_age_seconds", "", None),
        ("backoff", "30", 30),
        ("heartbeat_timeout_seconds", "2.5", 2.5),
    ],
)
def test_engine_settings_are_typed(kinto_settings, name, raw, value):
    kinto_settings(**{name: raw})
    assert engine_settings.get(name) == value


def test_dynamic_settings(kinto_settings):
    kinto_settings(
        record_read_principals="system.Everyone account:admin",
        object_record_delete_enabled="false",
        shop_record_cache_expires_seconds="30",
    )
    assert engine_settings.principals("record_read_principals") == [
        "system.Everyone",
        "account:admin",
    ]
    assert engine_settings.get("object_record_delete_enabled", True) is False
    assert engine_settings.get("shop_record_cache_expires_seconds", None) == 30
    assert engine_settings.get("plural_bucket_post_enabled", True) is True


def check_ids() -> list[str]:
    return [message.id for message in checks.check_settings()]


def test_checks_pass_with_defaults(kinto_settings):
    kinto_settings(userid_hmac_secret="a-real-secret")
    assert check_ids() == []


@pytest.mark.parametrize(
    ("name", "raw"),
    [("batch_max_requests", "many"), ("retry_after_seconds", "soon"), ("backoff", "x")],
)
def test_invalid_values_are_reported_at_startup(kinto_settings, name, raw):
    kinto_settings(**{name: raw})
    messages = checks.check_settings()
    assert [m.id for m in messages if m.id == "kinto_core.E001"] == ["kinto_core.E001"]
    assert name in messages[0].msg
    with pytest.raises(SystemCheckError):
        call_command("check")


def test_fetch_size_must_be_positive(kinto_settings):
    kinto_settings(storage_max_fetch_size="0", userid_hmac_secret="a-real-secret")
    assert check_ids() == ["kinto_core.E002"]


def test_development_secret_is_a_warning(kinto_settings):
    kinto_settings(userid_hmac_secret="dev-insecure-userid-hmac-secret")
    assert check_ids() == ["kinto_core.W001"]


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"eos": "next week"}, "kinto_core.E003"),
        ({"eos": "2030-13-01"}, "kinto_core.E003"),
        ({"backoff_percentage": "150"}, "kinto_core.E004"),
        ({"backoff_percentage": "-1"}, "kinto_core.E004"),
        ({"heartbeat_timeout_seconds": "0"}, "kinto_core.E005"),
    ],
)
def test_http_settings_are_checked(kinto_settings, values, error):
    kinto_settings(userid_hmac_secret="a-real-secret", **values)
    assert check_ids() == [error]


@pytest.mark.parametrize(
    "values",
    [{"eos": "2030-01-31"}, {"backoff_percentage": "0"}, {"heartbeat_timeout_seconds": "0.5"}],
)
def test_valid_http_settings_pass(kinto_settings, values):
    kinto_settings(userid_hmac_secret="a-real-secret", **values)
    assert check_ids() == []


def test_an_empty_user_id_secret_is_a_warning(kinto_settings):
    kinto_settings(userid_hmac_secret="")
    assert check_ids() == ["kinto_core.W002"]


def wiring_ids() -> list[str]:
    return [message.id for message in checks.check_site_wiring()]


def test_a_site_without_the_protocol_middleware_is_told(settings):
    assert wiring_ids() == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != checks.PROTOCOL_MIDDLEWARE]
    assert wiring_ids() == ["kinto_core.E006"]
    with pytest.raises(SystemCheckError):
        call_command("check")


def test_a_subclass_of_the_protocol_middleware_counts(settings):
    settings.MIDDLEWARE = [
        "tests.core.test_settings.SiteProtocolMiddleware" if m == checks.PROTOCOL_MIDDLEWARE else m
        for m in settings.MIDDLEWARE
    ]
    assert wiring_ids() == []


class SiteProtocolMiddleware(ProtocolMiddleware):
    """A site's own extension of the middleware."""


def test_a_site_without_a_kinto_setting_is_warned(settings):
    del settings.KINTO
    assert wiring_ids() == ["kinto_core.W003"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"auth_policies": "basicauth", "metrics_enabled": "false"}, ["kinto_core.W004"]),
        ({"auth_policies": "account", "metrics_enabled": "true"}, ["kinto_core.W005"]),
        ({"auth_policies": "account django", "metrics_enabled": "false"}, []),
    ],
)
def test_deploy_checks(kinto_settings, values, expected):
    kinto_settings(**values)
    assert [message.id for message in checks.check_deployment()] == expected


def test_live_changes_need_a_channel_layer(settings, kinto_settings):
    from kinto_django.notifications.checks import check_channel_layer

    assert check_channel_layer() == []
    settings.CHANNEL_LAYERS = {}
    assert [message.id for message in check_channel_layer()] == ["kinto_notifications.E003"]
    kinto_settings(live_enabled="false")
    assert check_channel_layer() == []


def test_unknown_settings_are_named(kinto_settings):
    kinto_settings(userid_hmac_secret="a-real-secret", paginate_byy="10", foo="1")
    (warning,) = checks.check_settings()
    assert warning.id == "kinto_core.W006"
    assert warning.msg == "Unknown KINTO settings, ignored: foo, paginate_byy."


def test_every_setting_the_apps_read_is_known(kinto_settings):
    """Patterns and the apps' own declared settings count: none of these is reported."""
    kinto_settings(
        userid_hmac_secret="a-real-secret",
        bucket_create_principals="system.Authenticated",
        record_post_enabled="false",
        shop_orders_record_cache_expires_seconds="30",
        event_listeners_hook_url="https://example.com",
        live_send_queue_bytes="1000",
        account_cache_ttl_seconds="5",
        default_bucket_hmac_secret="x",
        redis_url="redis://127.0.0.1:6379/0",
        includes="kinto.plugins.history",
    )
    assert check_ids() == []
